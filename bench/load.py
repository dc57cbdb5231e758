"""Sustained mixed load: cache hits, misses to the local model, and streams of both, at high
concurrency; reports errors, latency per class and the daemon's memory growth after warm-up.

    .venv/bin/python bench/load.py [--requests 10000] [--concurrency 64] [--json]

Targets (the hardening issue): 0 errors; RSS growth after warm-up < 10%. A short form runs in
CI (tests/integration/test_load_short.py) to prove "0 errors" on every change.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from collections import defaultdict

import httpx
import psutil
from loadgen import Sample, drive, start_appliance, table

CLASSES = (("hit", 0.60), ("stream-hit", 0.15), ("miss", 0.15), ("stream-miss", 0.10))
WARM = [f"Name a fruit that starts with the letter {c}." for c in "ABCDEFGHIJKLMNOP"]


def plan(total: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    names, weights = zip(*CLASSES, strict=True)
    return rng.choices(names, weights, k=total)


async def run(base_url: str, kinds: list[str], concurrency: int) -> dict[str, Sample]:
    samples: dict[str, Sample] = defaultdict(Sample)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=300, limits=limits) as http:

        async def call(i: int) -> bool:
            kind = kinds[i]
            hit = kind.endswith("hit")
            content = WARM[i % len(WARM)] if hit else f"Reply with the word ok. ({i})"
            body = {
                "model": "auto",
                "max_tokens": 4,
                "temperature": 0,
                "stream": kind.startswith("stream"),
                "messages": [{"role": "user", "content": content}],
            }
            began = asyncio.get_running_loop().time()
            response = await http.post("/chat/completions", json=body)
            ok = response.status_code == 200 and (
                not body["stream"] or response.text.rstrip().endswith("data: [DONE]")
            )
            sample = samples[kind]
            if ok:
                sample.latencies_ms.append((asyncio.get_running_loop().time() - began) * 1000)
            else:
                sample.errors += 1
            return ok

        whole = await drive(call, len(kinds), concurrency)
    for sample in samples.values():
        sample.elapsed_s = whole.elapsed_s
    return dict(samples)


def main(requests: int, concurrency: int, as_json: bool) -> dict[str, object]:
    server = start_appliance()
    try:
        assert server.process is not None
        process = psutil.Process(server.process.pid)
        warm_kinds = ["hit"] * len(WARM) + plan(max(requests // 10, 50), seed=1)
        for question in WARM:  # store the hit set
            httpx.post(
                server.base_url + "/chat/completions",
                timeout=60,
                json={
                    "model": "auto",
                    "max_tokens": 4,
                    "temperature": 0,
                    "messages": [{"role": "user", "content": question}],
                },
            )
        asyncio.run(run(server.base_url, warm_kinds, concurrency))
        rss_warm = process.memory_info().rss
        samples = asyncio.run(run(server.base_url, plan(requests), concurrency))
        rss_end = process.memory_info().rss
    finally:
        server.stop()
    errors = sum(s.errors for s in samples.values())
    growth = (rss_end - rss_warm) / rss_warm * 100
    result: dict[str, object] = {
        "requests": requests,
        "concurrency": concurrency,
        "errors": errors,
        "rss_after_warmup_mb": rss_warm / 2**20,
        "rss_end_mb": rss_end / 2**20,
        "rss_growth_pct": growth,
        "classes": {k: s.summary() for k, s in sorted(samples.items())},
    }
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        print(table([(k, s.summary()) for k, s in sorted(samples.items())]))
        print(
            f"errors: {errors}   RSS after warm-up {rss_warm / 2**20:.0f} MiB -> "
            f"{rss_end / 2**20:.0f} MiB ({growth:+.1f}%)"
        )
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    main(args.requests, args.concurrency, args.json)
