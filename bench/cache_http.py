"""Cache hits end to end over HTTP vs a miss to the local model, measured in one run.

    .venv/bin/python bench/cache_http.py [--hits 2000] [--concurrency 32]

Targets (DESIGN.md): hit p50 <= 5 ms at concurrency 1; >= 1,000 hits/s at concurrency 32.
The baseline row is the same request with `Cache-Control: no-cache` (the cache is skipped and
the local llama.cpp model answers): what every repeat would cost without the cache.
"""

from __future__ import annotations

import argparse
import asyncio

import httpx
from loadgen import drive, start_appliance, table

QUESTIONS = [f"What is the capital of country number {i}?" for i in range(64)]


async def main(hits: int, concurrency: int) -> None:
    server = start_appliance()
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=120,
                                     limits=httpx.Limits(max_connections=concurrency)) as http:
            def body(i: int) -> dict[str, object]:
                return {"model": "auto", "max_tokens": 8, "temperature": 0,
                        "messages": [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}]}

            for i in range(len(QUESTIONS)):  # warm: one miss per question, then stored
                await http.post("/chat/completions", json=body(i))
            await asyncio.sleep(1.0)

            async def hit(i: int) -> bool:
                r = await http.post("/chat/completions", json=body(i))
                return r.status_code == 200 and r.headers.get("x-appliance-cache") == "hit"

            async def miss(i: int) -> bool:
                r = await http.post("/chat/completions", json=body(i),
                                    headers={"cache-control": "no-cache"})
                return r.status_code == 200

            one = await drive(hit, min(hits, 500), 1)
            many = await drive(hit, hits, concurrency)
            baseline = await drive(miss, 20, 1)
        print(table([
            ("cache hit, concurrency 1", one.summary()),
            (f"cache hit, concurrency {concurrency}", many.summary()),
            ("baseline: miss to local model, c=1", baseline.summary()),
        ]))
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--hits", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(main(args.hits, args.concurrency))
