from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from appliance.embedding.batcher import EmbeddingBatcher
from appliance.embedding.encoder import Encoder

TEXTS = [f"How do I configure feature number {i} on my router?" for i in range(40)]


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder(threads=2)


class CountingEncoder:
    """Wraps the real encoder; records each ONNX run's batch size and can be slowed down."""

    def __init__(self, inner: Encoder, delay: float = 0.0, fail: bool = False) -> None:
        self.inner, self.delay, self.fail = inner, delay, fail
        self.dim = inner.dim
        self.batches: list[int] = []
        self.threads: set[int] = set()

    def encode(self, texts: list[str]) -> np.ndarray:
        self.batches.append(len(texts))
        self.threads.add(threading.get_ident())
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("onnx exploded")
        return self.inner.encode(texts)


@pytest.fixture
def counting(encoder: Encoder) -> Iterator[tuple[CountingEncoder, EmbeddingBatcher]]:
    wrapped = CountingEncoder(encoder, delay=0.02)
    batcher = EmbeddingBatcher(wrapped, max_batch=16)
    batcher.start()
    yield wrapped, batcher
    batcher.close()


def test_concurrent_embeds_match_direct_encoding(encoder: Encoder, counting) -> None:  # type: ignore[no-untyped-def]
    _, batcher = counting

    async def go() -> list[np.ndarray]:
        return await asyncio.gather(*(batcher.embed(t) for t in TEXTS))

    got = np.stack(asyncio.run(go()))
    direct = encoder.encode(TEXTS)
    assert got.shape == (len(TEXTS), 384)
    # Same text, same vector, whatever it was batched with (padding is masked out).
    assert np.allclose(got, direct, atol=1e-4)
    assert np.all(np.sum(got * direct, axis=1) > 0.9999)


def test_batches_form_under_concurrency_and_respect_the_cap(counting) -> None:  # type: ignore[no-untyped-def]
    wrapped, batcher = counting

    async def go() -> None:
        await asyncio.gather(*(batcher.embed(t) for t in TEXTS))

    asyncio.run(go())
    assert sum(wrapped.batches) == len(TEXTS)
    assert len(wrapped.batches) < len(TEXTS) / 2  # 40 requests, far fewer ONNX runs
    assert max(wrapped.batches) <= 16
    assert batcher.runs == len(wrapped.batches)
    assert len(wrapped.threads) == 1  # one worker thread


def test_single_request_runs_at_once_without_waiting(encoder: Encoder) -> None:
    wrapped = CountingEncoder(encoder)
    batcher = EmbeddingBatcher(wrapped)
    batcher.start()
    try:

        async def sequential() -> float:
            await batcher.embed("warm up")
            start = time.perf_counter()
            for text in TEXTS[:5]:
                await batcher.embed(text)
            return (time.perf_counter() - start) / 5

        per_call = asyncio.run(sequential())
        assert wrapped.batches == [1] * 6
        assert per_call < 0.2  # no fixed batching window (an encode is ~5-20 ms here)
    finally:
        batcher.close()


def test_embed_many_keeps_order(encoder: Encoder, counting) -> None:  # type: ignore[no-untyped-def]
    _, batcher = counting
    got = asyncio.run(batcher.embed_many(TEXTS[:5]))
    assert np.allclose(got, encoder.encode(TEXTS[:5]), atol=1e-4)
    assert asyncio.run(batcher.embed_many([])).shape == (0, 384)


def test_encoder_failure_reaches_every_caller(encoder: Encoder) -> None:
    batcher = EmbeddingBatcher(CountingEncoder(encoder, fail=True))
    batcher.start()
    try:

        async def go() -> list[object]:
            return await asyncio.gather(
                *(batcher.embed(t) for t in TEXTS[:4]), return_exceptions=True
            )

        results = asyncio.run(go())
        assert all(isinstance(r, RuntimeError) for r in results)
    finally:
        batcher.close()


def test_embed_before_start_is_an_error(encoder: Encoder) -> None:
    batcher = EmbeddingBatcher(encoder)
    with pytest.raises(RuntimeError):
        asyncio.run(batcher.embed("hi"))


def test_a_recent_text_is_not_encoded_again(encoder: Encoder) -> None:
    counting = CountingEncoder(encoder)
    batcher = EmbeddingBatcher(counting, recent_size=2)  # type: ignore[arg-type]
    batcher.start()
    try:

        async def go() -> list[np.ndarray]:
            return [await batcher.embed(t) for t in ["a b", "a b", "c d", "e f", "a b"]]

        vectors = asyncio.run(go())
    finally:
        batcher.close()
    # "a b" was evicted by "c d" and "e f" (size 2), so it is encoded twice in all.
    assert counting.batches == [1, 1, 1, 1]
    assert batcher.recent_hits == 1
    assert np.array_equal(vectors[0], vectors[1]) and np.allclose(vectors[0], vectors[4])
    assert not vectors[0].flags.writeable  # shared between requests: read-only


def test_memo_off_encodes_every_time_and_runs_are_reported(encoder: Encoder) -> None:
    counting = CountingEncoder(encoder)
    runs: list[int] = []
    memo: list[None] = []
    batcher = EmbeddingBatcher(
        counting,  # type: ignore[arg-type]
        recent_size=0,
        on_run=runs.append,
        on_recent=lambda: memo.append(None),
    )
    batcher.start()
    try:

        async def go() -> None:
            for _ in range(3):
                await batcher.embed("a b")
            await batcher.embed_many(TEXTS[:4])

        asyncio.run(go())
    finally:
        batcher.close()
    assert counting.batches == [1, 1, 1, 4] and runs == [1, 1, 1, 4]
    assert memo == [] and batcher.recent_hits == 0
