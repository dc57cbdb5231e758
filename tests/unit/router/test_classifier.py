"""The shipped router head: loads, scores in [0, 1], ranks by what it learned, is fast."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from appliance.embedding.encoder import Encoder
from appliance.router.classifier import DEFAULT_MODEL_DIR, RouterClassifier
from appliance.router.features import FEATURE_NAMES
from appliance.router.policy import RoutingPolicy, ScoreProfile
from appliance.text import normalise_text

TRIVIAL = ["hi", "extract the date from: Meeting on 3 May"]
HARD = [
    "Janet has 3 times as many marbles as Tom. Tom gives away 4 marbles and then buys twice as "
    "many as he has left. If Tom started with 12 marbles, how many more marbles does Janet have "
    "than Tom now? Work it out step by step.",
    "A train leaves at 3:15 pm travelling 80 km/h; a second train leaves the same station at "
    "4:00 pm at 110 km/h on the same track. At what time does the second train catch the "
    "first, and how far from the station? Show each step of the calculation.",
]


# Long multi-constraint tasks from the out-of-domain probes in train.py (written before training).
HARD_OOD = [
    "Design a distributed rate limiter for a multi-region API gateway and give code: it must "
    "allow at most 1000 requests per minute per API key across all regions, tolerate the loss "
    "of one region, and add no more than 5 ms of latency. Explain the trade-offs.",
    "Our Postgres database has a table of 2 billion rows and queries joining it to a second "
    "table became 40x slower after an upgrade. First list the likely causes, then give a "
    "step-by-step plan to diagnose each one, and finally propose schema and index changes, "
    "with the SQL, that keep writes under 10 ms.",
]


@pytest.fixture(scope="module")
def classifier() -> RouterClassifier:
    return RouterClassifier.load()


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder(threads=2)


def test_metadata_names_the_same_features_as_the_code(classifier: RouterClassifier) -> None:
    assert tuple(classifier.metadata["task_features"]) == FEATURE_NAMES
    assert len(classifier.metadata["score_quantiles"]) == 101


def test_scores_are_in_unit_interval(classifier: RouterClassifier, encoder: Encoder) -> None:
    texts = TRIVIAL + HARD + ["", "x" * 5000]
    scores = classifier.score(encoder.encode(texts), texts)
    assert scores.shape == (len(texts),)
    assert np.all((scores >= 0) & (scores <= 1))


EASY_MCQ = (
    "Which branch of the United States government has the power to declare war?\n"
    "A. The President\nB. Congress\nC. The Supreme Court\nD. The Cabinet\nAnswer:"
)
WORD_PROBLEM = (
    "A bakery sells muffins for $3 each and cookies for $1.50 each. On Monday it sold 48 "
    "muffins and twice as many cookies. On Tuesday it sold 25% fewer of each. How much money "
    "did the bakery make over the two days?"
)


def test_in_domain_word_problem_scores_above_an_easy_recall_question(
    classifier: RouterClassifier, encoder: Encoder
) -> None:
    """What transfers across subjects: a multi-step word problem is where GPT-4 beats Mixtral
    more often than on a one-line recall question (the head does not know the topic)."""
    texts = [EASY_MCQ, WORD_PROBLEM]
    easy, hard = classifier.score(encoder.encode(texts), texts)
    assert hard > easy + 0.03


def test_trivial_prompts_route_local_and_hard_ones_to_the_frontier(
    classifier: RouterClassifier, encoder: Encoder
) -> None:
    """The runtime's default shares (70/25/5) before any live scores: cut points come from the
    training-score quantiles in router.json. Out of domain the graph leans on the complexity
    prior, so chit-chat lands on tier 0 and multi-step proofs/design tasks on tier 2."""
    policy = RoutingPolicy.by_shares(
        [0.70, 0.25, 0.05], ScoreProfile.from_metadata(classifier.metadata)
    )
    texts = TRIVIAL + HARD_OOD
    tiers = [policy.tier(s) for s in classifier.score(encoder.encode(texts), texts)]
    assert tiers[: len(TRIVIAL)] == [0] * len(TRIVIAL)
    assert tiers[len(TRIVIAL) :] == [2] * len(HARD_OOD)


def test_recorded_out_of_domain_probes_reproduce_on_the_encoder_they_were_recorded_on(
    classifier: RouterClassifier,
) -> None:
    """router.json's probe scores were recorded with the fp32 encoder (the int8 build did not
    exist yet): on it they reproduce to the third decimal."""
    probes = classifier.metadata["ood_probes"]
    texts = [p["prompt"] for p in probes]
    scores = classifier.score(Encoder(threads=2, precision="fp32").encode(texts), texts)
    assert scores == pytest.approx([p["score"] for p in probes], abs=2e-3)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_out_of_domain_probes_never_invert(classifier: RouterClassifier, precision: str) -> None:
    """All probes from models/router/probes.py, on either encoder build: every trivial one
    is local, no hard one is local, and open-ended requests that need reasoning (maths, logic,
    code, science) score above the ones a weak model handles (writing, role-play, extraction,
    humanities) on average."""
    probes = classifier.metadata["ood_probes"]
    policy = RoutingPolicy.by_shares(
        [0.70, 0.25, 0.05], ScoreProfile.from_metadata(classifier.metadata)
    )
    texts = [p["prompt"] for p in probes]
    encoder = Encoder(threads=2, precision=precision)
    assert encoder.precision == precision
    scores = classifier.score(encoder.encode(texts), texts)
    for probe, score in zip(probes, scores, strict=True):
        tier = policy.tier(float(score))
        if probe["kind"] == "trivial":
            assert tier == 0, probe["prompt"]
        elif probe["kind"] == "hard":
            assert tier >= 1, probe["prompt"]
    light = {"writing", "roleplay", "extraction", "humanities"}
    easy = [s for p, s in zip(probes, scores, strict=True) if p["kind"] in light]
    reasoning = [
        s
        for p, s in zip(probes, scores, strict=True)
        if p["kind"] not in light | {"trivial", "hard"}
    ]
    assert len(easy) == len(reasoning) == 8
    assert np.mean(reasoning) > np.mean(easy) + 0.1


def test_out_of_domain_blend_leaves_in_domain_prompts_alone(
    classifier: RouterClassifier, encoder: Encoder
) -> None:
    texts = [EASY_MCQ, WORD_PROBLEM, "hi", "thanks!"]
    parts = classifier.explain(encoder.encode(texts), texts)
    assert parts["ood_weight"][:2] == pytest.approx([0.0, 0.0], abs=0.02)
    assert parts["score"][:2] == pytest.approx(parts["head"][:2], abs=0.01)
    assert min(parts["ood_weight"][2:]) > 0.9
    assert parts["score"] == pytest.approx(
        parts["head"] + parts["ood_weight"] * (parts["prior"] - parts["head"]), abs=1e-5
    )


def test_line_breaks_do_not_change_the_score(
    classifier: RouterClassifier, encoder: Encoder
) -> None:
    """The gateway scores the normalised last turn; `router score` scores the raw prompt."""
    texts = [EASY_MCQ, WORD_PROBLEM, HARD_OOD[0]]
    flat = [normalise_text(t) for t in texts]
    raw = classifier.score(encoder.encode(texts), texts)
    assert classifier.score(encoder.encode(flat), flat) == pytest.approx(raw, abs=1e-4)


def test_batch_and_single_scores_agree(classifier: RouterClassifier, encoder: Encoder) -> None:
    texts = TRIVIAL + HARD
    vectors = encoder.encode(texts)
    batch = classifier.score(vectors, texts)
    single = [classifier.score(vectors[i : i + 1], [t])[0] for i, t in enumerate(texts)]
    assert batch == pytest.approx(single, abs=1e-6)


def test_shape_mismatch_is_rejected(classifier: RouterClassifier) -> None:
    with pytest.raises(ValueError, match="2 vectors for 1 texts"):
        classifier.score(np.zeros((2, 384), np.float32), ["a"])
    with pytest.raises(ValueError, match="384"):
        classifier.score(np.zeros((1, 10), np.float32), ["a"])


def test_model_trained_with_another_complexity_count_is_refused(tmp_path: Path) -> None:
    shutil.copy(DEFAULT_MODEL_DIR / "router.onnx", tmp_path / "router.onnx")
    metadata = json.loads((DEFAULT_MODEL_DIR / "router.json").read_text())
    metadata["complexity_weights"] = [1.0] * len(metadata["complexity_weights"])
    (tmp_path / "router.json").write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match="complexity"):
        RouterClassifier.load(tmp_path)


def test_model_trained_with_other_features_is_refused(tmp_path: Path) -> None:
    shutil.copy(DEFAULT_MODEL_DIR / "router.onnx", tmp_path / "router.onnx")
    metadata = json.loads((DEFAULT_MODEL_DIR / "router.json").read_text())
    metadata["task_features"] = ["log_chars"]
    (tmp_path / "router.json").write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match="retrain"):
        RouterClassifier.load(tmp_path)
