"""Semantic-hit latency before and after the verifier, side by side in one run (in process).

    .venv/bin/python bench/verifier.py [--entries 2000] [--repeats 300] [--encoder-threads 2]

Rows: the verifier alone (1-3 candidates), then embed + lookup for a semantic hit and for a
clear miss, before (cosine >= 0.94 + guards) and after (loose cosine + verifier at the
calibrated point), on the same cache and vectors. The
HTTP layer adds a fixed ~1.7 ms on this box (bench/cache_http.py: semantic hit 6.24 ms p50
end to end with a ~4.5 ms embedding), so end to end ~= the embed + lookup row + that.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appliance.cache.scope import build_key  # noqa: E402
from appliance.cache.semantic import SemanticCache  # noqa: E402
from appliance.cache.verifier import Verifier  # noqa: E402
from appliance.config import CacheConfig  # noqa: E402
from appliance.embedding.encoder import Encoder  # noqa: E402
from models.cache.multiturn import TunedConfig  # noqa: E402

STORED = [
    "How do I reset my router password?",
    "What is the capital of Australia?",
    "How many legs does a spider have?",
    "What is the boiling point of water?",
]
ASKED = [
    "how do I reset my router password",
    "What's the capital of Australia?",
    "how many legs does a spider have",
    "what is the boiling point of water",
]
# Unrelated to every stored question; with a loose cosine some still reach the verifier.
MISSES = ["Write a haiku about autumn leaves", "Explain quicksort", "Best pizza in Naples"]


def timed(fn: Callable[[int], object], repeats: int) -> tuple[float, float]:
    for i in range(20):
        fn(i)
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    ms = np.array(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def main(entries: int, repeats: int, encoder_threads: int) -> None:
    rows: list[tuple[str, float, float]] = []
    verifier = Verifier()
    for n in (1, 2, 3):
        sims = [0.9] * n
        p50, p99 = timed(
            lambda i, n=n, sims=sims: verifier.score(ASKED[i % 4], STORED[:n], sims), repeats
        )
        rows.append((f"verifier alone, {n} candidate(s)", p50, p99))

    encoder = Encoder(threads=encoder_threads)
    texts = STORED + ASKED + MISSES
    vectors = dict(zip(texts, encoder.encode(texts), strict=True))
    filler = [f"Question number {i} about topic {i % 97} and item {i * 7}" for i in range(entries)]
    filler_vectors = encoder.encode(filler)
    point = TunedConfig(index_save_interval_s=3600)
    setups = [
        ("before: cosine >= 0.94 + guards", CacheConfig(index_save_interval_s=3600), None),
        (f"after: cosine >= {point.candidate_threshold} + verifier", point, verifier),
    ]
    for label, config, verifier in setups:
        with tempfile.TemporaryDirectory() as tmp:
            cache = SemanticCache(Path(tmp), config, verifier=verifier)
            for text, vector in zip(filler, filler_vectors, strict=True):
                cache.store(cache.new_entry_id(), key(text), vector, b"x")
            for text in STORED:
                cache.store(cache.new_entry_id(), key(text), vectors[text], b"answer")
            # Each setup is timed on the rewordings it serves (the old rule misses some).
            served = [
                t for t in ASKED if cache.lookup_semantic(key(t), vectors[t]).outcome == "hit"
            ]
            assert served, label

            def hit(i: int, cache: SemanticCache = cache, served: list[str] = served) -> None:
                text = served[i % len(served)]
                cache.lookup_semantic(key(text), encoder.encode([text])[0])

            def lookup_only(
                i: int, cache: SemanticCache = cache, served: list[str] = served
            ) -> None:
                text = served[i % len(served)]
                cache.lookup_semantic(key(text), vectors[text])

            def miss(i: int, cache: SemanticCache = cache) -> None:
                text = MISSES[i % 3]
                cache.lookup_semantic(key(text), vectors[text])

            print(f"{label}: serves {len(served)}/{len(ASKED)} rewordings")
            rows.append((f"{label}: semantic hit, lookup only", *timed(lookup_only, repeats)))
            rows.append((f"{label}: semantic hit, embed + lookup", *timed(hit, repeats)))
            before = int(str(cache.stats()["verified"]))
            rows.append((f"{label}: miss, lookup only", *timed(miss, repeats)))
            verified = (int(str(cache.stats()["verified"])) - before) / (repeats + 20)
            print(f"{label}: candidates verified per miss {verified:.2f}")
            cache.close()
    width = max(len(r[0]) for r in rows)
    print(f"{'':<{width}}  p50 ms  p99 ms")
    for name, p50, p99 in rows:
        print(f"{name:<{width}}  {p50:6.2f}  {p99:6.2f}")


def key(text: str):  # type: ignore[no-untyped-def]
    return build_key("ns", "auto", [{"role": "user", "content": text}], {"temperature": 0})


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--encoder-threads", type=int, default=2)
    args = parser.parse_args()
    main(args.entries, args.repeats, args.encoder_threads)
