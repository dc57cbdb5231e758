"""The audit run with the real encoder and cache; a stub scorer stands in for the router
model where a test needs known scores, and the shipped model is used when it is present."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import msgspec
import numpy as np
import pytest

from appliance.config import Config, LedgerConfig, Price, RouterConfig
from appliance.embedding.encoder import Encoder
from appliance.replay import simulate
from appliance.replay.cli import preset_tiers
from appliance.replay.reader import LogRecord
from appliance.replay.summary import Summary
from appliance.replay.sweep import sweep
from appliance.replay.vectors import VectorMemo
from appliance.router.classifier import DEFAULT_MODEL_DIR
from appliance.schemas import ChatCompletionRequest, ChatMessage

DAY = 86400.0


class LengthScorer:
    """Score = prompt length / 100: short prompts are easy, long ones hard."""

    metadata: ClassVar[dict[str, Any]] = {
        "score_quantiles": [0.0, 0.25, 0.5, 0.75, 1.0],
        "score_range": [0.0, 1.0],
    }

    def score(self, vectors: np.ndarray, texts: list[str]) -> np.ndarray:
        return np.array([min(1.0, len(t) / 100.0) for t in texts])


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder(threads=2)


def record(
    text: str,
    line: int,
    *,
    ts: float | None = None,
    model: str = "gpt-4o",
    prompt: int | None = 1000,
    completion: int | None = 500,
    temperature: float = 0.0,
    **extra: Any,
) -> LogRecord:
    req = ChatCompletionRequest(
        messages=[ChatMessage(role="user", content=text)], model=model, temperature=temperature
    )
    return LogRecord(
        line=line,
        request=req,
        model=model,
        timestamp=ts,
        prompt_tokens=prompt,
        completion_tokens=completion,
        **extra,
    )


def cloud3(**ledger: Any) -> Config:
    return msgspec.structs.replace(
        Config(),
        tiers=preset_tiers("cloud3"),
        router=RouterConfig(cut_points=[0.3, 0.6]),
        ledger=LedgerConfig(**ledger),
    )


def run(
    records: list[LogRecord],
    config: Config,
    encoder: Encoder,
    scorer: Any = None,
    baseline: str | None = None,
) -> Summary:
    sim = simulate.build(records, config, encoder, scorer, baseline)
    return simulate.simulate(sim)


def test_a_repeated_prompt_becomes_a_hit(encoder: Encoder) -> None:
    records = [
        record("What is the capital of France?", 1, ts=0),
        record("How tall is Mount Everest?", 2, ts=10),
        record("What is the capital of France?", 3, ts=20),
    ]
    summary = run(records, Config(), encoder)
    assert (summary.hits_exact, summary.hits_semantic) == (1, 0)
    assert summary.assignments == [0, 0, -1]
    # One tier: misses keep their logged price, the hit saves exactly one call.
    one_call = (1000 * 2.50 + 500 * 10.00) / 1e6
    assert summary.cost_before == pytest.approx(3 * one_call)
    assert summary.cost_after == pytest.approx(2 * one_call)
    assert summary.single_tier and "one tier" in summary.notes[0]


def test_the_replayed_cache_reads_candidates_with_the_verifier_as_the_gateway_does(
    encoder: Encoder,
) -> None:
    # Cosine 0.95 and no guard objects, but "capital city" is another wording the verifier
    # does not trust (0.36 < 0.65): the live gateway misses, so the replay must too.
    records = [
        record("What is the capital of Australia?", 1, ts=0),
        record("What's the capital city of Australia?", 2, ts=10),
        record("Tell me the capital of Australia.", 3, ts=20),
    ]
    verified = run(records, Config(), encoder)
    assert verified.cache_rule == "verifier" and verified.threshold == 0.65
    assert verified.assignments[1] == 0 and verified.assignments[2] == -1  # 3 is a hit
    plain = msgspec.structs.replace(Config().cache, verifier=False)
    cosine = run(records, msgspec.structs.replace(Config(), cache=plain), encoder)
    assert cosine.cache_rule == "cosine" and cosine.assignments[1] == -1


def test_hits_past_the_ttl_in_log_time_are_misses(encoder: Encoder) -> None:
    records = [
        record("What is the capital of France?", 1, ts=0),
        record("What is the capital of France?", 2, ts=8 * DAY),
    ]
    summary = run(records, Config(), encoder)
    assert (summary.hits, summary.expired) == (0, 1)


def test_hot_sampling_is_never_served_from_cache(encoder: Encoder) -> None:
    records = [record("Write a poem about rain.", i, ts=i, temperature=1.2) for i in range(3)]
    summary = run(records, Config(), encoder)
    assert summary.hits == 0 and summary.cacheable == 0


def test_a_trivial_prompt_goes_to_tier_1(encoder: Encoder) -> None:
    records = [
        record("Hi!", 1, ts=0),
        record(
            "Summarise the causes of the First World War in three paragraphs, "
            "citing the alliance system and the July crisis.",
            2,
            ts=1,
        ),
    ]
    summary = run(records, cloud3(), encoder, LengthScorer())
    assert summary.assignments == [0, 2]
    assert summary.tier_counts == [1, 0, 1]
    assert summary.cut_points == [0.3, 0.6]


@pytest.mark.skipif(
    not (DEFAULT_MODEL_DIR / "router.onnx").is_file(), reason="the router model is not trained yet"
)
def test_the_shipped_router_sends_a_trivial_prompt_to_tier_1(encoder: Encoder) -> None:
    from appliance.router.classifier import RouterClassifier

    config = msgspec.structs.replace(Config(), tiers=preset_tiers("cloud3"))
    summary = run(
        [record("What's the capital of Australia?", 1, ts=0)],
        config,
        encoder,
        RouterClassifier.load(),
    )
    assert summary.assignments == [0]


def test_a_price_change_changes_the_total_exactly(encoder: Encoder) -> None:
    records = [
        record("Hi!", 1, ts=0, prompt=2000, completion=300),
        record("x" * 90, 2, ts=1, prompt=1000, completion=100),
    ]
    first = run(records, cloud3(), encoder, LengthScorer())
    # Hi! -> local (free); the long one -> gpt-4o. Before: both on gpt-4o as logged.
    assert first.cost_before == pytest.approx((2000 * 2.5 + 300 * 10 + 1000 * 2.5 + 100 * 10) / 1e6)
    assert first.cost_after == pytest.approx((1000 * 2.5 + 100 * 10) / 1e6)
    dearer = run(
        records, cloud3(prices={"gpt-4o": Price(input=5.0, output=20.0)}), encoder, LengthScorer()
    )
    assert dearer.cost_before == pytest.approx(2 * first.cost_before, rel=1e-12)
    assert dearer.cost_after == pytest.approx(2 * first.cost_after, rel=1e-12)


def test_baseline_model_prices_every_request_and_tokens_are_estimated(encoder: Encoder) -> None:
    records = [
        record("What is the capital of France?", 1, ts=0, prompt=None, completion=None),
        record("What is the capital of Spain?", 2, ts=1, prompt=None, completion=40),
    ]
    summary = run(records, Config(), encoder, baseline="gpt-4o-mini")
    assert summary.logged_basis == 0 and summary.baseline_model == "gpt-4o-mini"
    # The first has no completion count: the median of logged ones (40) is used.
    assert summary.completion_estimated == 1 and summary.default_completion_tokens == 40
    prompt = encoder.count_tokens("What is the capital of France?") + 4
    assert summary.cost_before > (prompt * 0.15 + 40 * 0.60) / 1e6


def test_unknown_baseline_model_is_an_error(encoder: Encoder) -> None:
    with pytest.raises(simulate.ReplayError, match="--baseline-model"):
        simulate.build([record("x", 1)], Config(), encoder, None, "no-such-model")


def test_quality_kept_uses_the_outcome_labels(encoder: Encoder) -> None:
    records = [
        record("Hi!", 1, ts=0, weak_correct=False, strong_correct=True),
        record("y" * 90, 2, ts=1, weak_correct=False, strong_correct=True),
        record("Yo", 3, ts=2, weak_correct=True, strong_correct=True),
    ]
    summary = run(records, cloud3(), encoder, LengthScorer())
    assert (summary.labelled, summary.frontier_correct, summary.routed_correct) == (3, 3, 2)
    assert summary.quality_kept == pytest.approx(2 / 3)


def test_sweep_reuses_embeddings_over_thresholds_and_shares(encoder: Encoder) -> None:
    records = [record(f"Question number {i} about {'x' * (i * 7)}", i, ts=i) for i in range(10)]
    sim = simulate.build(records, cloud3(), encoder, LengthScorer())
    rows = sweep(sim, thresholds=(0.9, 0.99), shares_down=(0.5, 0.9))
    assert [(r.threshold, r.target_down) for r in rows] == [
        (0.9, 0.5),
        (0.9, 0.9),
        (0.99, 0.5),
        (0.99, 0.9),
    ]
    assert rows[1].summary.share_down >= rows[0].summary.share_down
    assert rows[1].summary.cost_after <= rows[0].summary.cost_after


def test_the_scratch_cache_leaves_no_files_behind(encoder: Encoder, tmp_path: Path) -> None:
    import tempfile

    before = set(Path(simulate._scratch_root() or tempfile.gettempdir()).glob("appliance-replay-*"))
    run([record("Hello", 1)], Config(), encoder)
    after = set(Path(simulate._scratch_root() or tempfile.gettempdir()).glob("appliance-replay-*"))
    assert after == before


def test_parallel_embedding_matches_one_encoder(encoder: Encoder) -> None:
    texts = [f"question {i} " + "word " * (i % 13) for i in range(70)] + ["question 1 word "]
    one, _ = simulate.embed_all(texts, [encoder])
    two, _ = simulate.embed_all(texts, [encoder, encoder])
    assert one.shape == (71, 384)
    np.testing.assert_allclose(one, two, atol=1e-6)


class CountingEncoder:
    """The real encoder, counting the texts it is given (a test of what is not re-embedded)."""

    def __init__(self, encoder: Encoder) -> None:
        self.inner, self.encoded = encoder, 0
        self.count_tokens, self.sees_whole = encoder.count_tokens, encoder.sees_whole

    def encode(self, texts: list[str]) -> np.ndarray:
        self.encoded += len(texts)
        return self.inner.encode(texts)


def test_a_second_replay_reads_its_vectors_from_the_memo(encoder: Encoder, tmp_path: Path) -> None:
    texts = ["How do I reset my password?", "What is the capital of Peru?"] * 3
    counting = CountingEncoder(encoder)
    memo = VectorMemo(tmp_path / "vectors", encoder.identity, encoder.dim)
    try:
        first, remembered = simulate.embed_all(texts, [counting], memo=memo)
        assert (remembered, counting.encoded) == (0, 2)
        more = [*texts, "A new question"]
        second, remembered = simulate.embed_all(more, [counting], memo=memo)
        assert (remembered, counting.encoded) == (2, 3)  # only the new text was embedded
        np.testing.assert_array_equal(second[: len(texts)], first)
        np.testing.assert_allclose(second[-1], encoder.encode(["A new question"])[0], atol=1e-6)
    finally:
        memo.close()
    assert (tmp_path / "vectors").stat().st_mode & 0o077 == 0  # prompt-derived: private


def test_vectors_of_another_encoder_are_never_read(encoder: Encoder, tmp_path: Path) -> None:
    texts = ["How do I reset my password?"]
    memo = VectorMemo(tmp_path, encoder.identity, encoder.dim)
    memo.remember(texts, np.ones((1, encoder.dim), dtype=np.float32))
    memo.close()
    other = VectorMemo(tmp_path, "another-model", encoder.dim)
    try:
        assert other.recall(texts) == {}
    finally:
        other.close()
