"""The shipped verifier on its own: loads fast, scores a batch like single pairs, and tells a
retyped question from one whose answer differs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from appliance.cache.verifier import VERIFIER_THRESHOLD, Verifier, VerifyPolicy, default_model_path

Embed = Callable[[str], np.ndarray]


def cosine(embed: Embed, a: str, b: str) -> float:
    return float(embed(a) @ embed(b))


def test_the_shipped_model_loads_in_under_a_second() -> None:
    started = time.perf_counter()
    Verifier()
    assert time.perf_counter() - started < 1.0
    assert default_model_path().is_file()


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        ("How do I reset my password?", "how do i reset my password"),
        ("What is the capital of Australia?", "What's the capital of Australia??"),
        (
            "How do I merge two dictionaries in Python?",
            "Hi, how do I merge two dictionaries in python? Thanks",
        ),
    ],
)
def test_rewordings_pass(verifier: Verifier, embed: Embed, stored: str, asked: str) -> None:
    assert verifier.score(asked, [stored], [cosine(embed, stored, asked)])[0] >= VERIFIER_THRESHOLD


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        ("How do I enable automatic updates?", "How do I disable automatic updates?"),
        ("What is the status of order 48213?", "What is the status of order 48231?"),
        ("How do I reverse a list in Python?", "How do I reverse a list in Java?"),
        ("What is the population of Canada?", "What was the population of Canada in 1900?"),
    ],
)
def test_traps_fail(verifier: Verifier, embed: Embed, stored: str, asked: str) -> None:
    assert verifier.score(asked, [stored], [cosine(embed, stored, asked)])[0] < VERIFIER_THRESHOLD


def test_one_batch_scores_like_single_runs(verifier: Verifier) -> None:
    query = "How can I reset my password?"
    stored = ["How do I reset my password?", "How do I change my email?", "Reset password"]
    sims = [0.97, 0.8, 0.9]
    batch = verifier.score(query, stored, sims)
    pairs = zip(stored, sims, strict=True)
    singles = np.array([verifier.score(query, [s], [c])[0] for s, c in pairs])
    assert batch.shape == (3,)
    np.testing.assert_allclose(batch, singles, atol=1e-6)
    assert verifier.score(query, [], []).shape == (0,)


def test_a_model_trained_on_other_features_is_refused(tmp_path: Path) -> None:
    model = json.loads(default_model_path().read_text())
    model["features"] = model["features"][:-1]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(model))
    with pytest.raises(ValueError, match="features"):
        Verifier(path)


def test_policy_reads_config_keys_and_falls_back_to_defaults() -> None:
    class Config:
        candidate_threshold = 0.7
        verifier_threshold = 0.9
        verifier_candidates = 0

    policy = VerifyPolicy.from_config(Config())
    assert (policy.candidate_threshold, policy.verifier_threshold) == (0.7, 0.9)
    assert policy.max_candidates == 1  # never zero: a candidate above the cosine is verified
    assert VerifyPolicy.from_config(object()) == VerifyPolicy()


def test_a_remembered_score_is_the_score_of_that_pair_and_cosine(verifier: Verifier) -> None:
    """Repeated wordings are scored from a memo: it must give what a fresh computation gives,
    and a different cosine for the same texts is a different score, not a remembered one."""
    query, stored = "How can I reset my password?", "How do I reset my password?"
    fresh = Verifier()
    first = verifier.score(query, [stored], [0.93])[0]
    assert verifier.score(query, [stored], [0.93])[0] == first
    assert fresh.score(query, [stored], [0.93])[0] == pytest.approx(first, abs=1e-7)
    lower = verifier.score(query, [stored], [0.61])[0]
    assert lower == pytest.approx(fresh.score(query, [stored], [0.61])[0], abs=1e-7)
    assert lower < first
