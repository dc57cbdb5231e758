"""Cache hits end to end over HTTP vs a miss to the local model, measured in one run.

    .venv/bin/python bench/cache_http.py [--hits 2000] [--concurrency 32] [--seconds 10]

Targets (DESIGN.md): hit p50 <= 5 ms at concurrency 1; >= 1,000 hits/s at concurrency 32.
Latency at concurrency 1 is measured with httpx. Throughput at concurrency 32 is measured
with `wrk` (apt-get install wrk) because a Python client on the same 2-core box saturates a
core itself and would measure the client; without wrk it falls back to httpx and says so.
"Exact" hits repeat a stored request; "semantic" hits are paraphrases of stored requests
(embedded, found in the index, read by the verifier). A few paraphrases asked over and over
come from the memo of recent embeddings (`cache.embedding_memo`) after their first time, so
the "memo off" rows run a second daemon with it off: every hit pays its encoder run, as a
stream of never-seen wordings would. After the c=32 run the daemon's histogram of texts per
encoder run (`appliance_embedding_batch_size`) shows whether micro-batching batches.
The baseline row is the same request with `Cache-Control: no-cache`: the local llama.cpp
model answers, as every repeat
would without the cache.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
from loadgen import Server, drive, start_appliance, table

STORED = [
    "How do I reset my router password?",
    "What is the capital of Australia?",
    "How many legs does a spider have?",
    "What is the boiling point of water?",
]
PARAPHRASES = [
    "How can I reset my router's password?",
    "Tell me the capital of Australia.",
    "How many legs do spiders have?",
    "What's the boiling point of water?",
]


def body(content: str) -> dict[str, object]:
    return {
        "model": "auto",
        "max_tokens": 8,
        "temperature": 0,
        "messages": [{"role": "user", "content": content}],
    }


def wrk(url: str, bodies: list[str], concurrency: int, seconds: int) -> dict[str, float]:
    script = Path(tempfile.mkdtemp()) / "post.lua"
    quoted = ", ".join(json.dumps(b) for b in bodies)
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"local bodies = {{{quoted}}}\nlocal i = 0\n"
        "request = function()\n  i = i + 1\n"
        "  return wrk.format(nil, nil, nil, bodies[(i % #bodies) + 1])\nend\n"
    )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
    ).stdout

    def ms(label: str) -> float:
        match = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "n": float(total.group(1)) if total else 0.0,
        "errors": float(errors.group(1)) if errors else 0.0,
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "per_s": float(rate.group(1)) if rate else 0.0,
    }


async def warm(http: httpx.AsyncClient) -> None:
    for question in STORED:  # one miss each, stored after the response
        await http.post("/chat/completions", json=body(question))
    await asyncio.sleep(1.0)
    for question in PARAPHRASES:
        r = await http.post("/chat/completions", json=body(question))
        assert r.headers.get("x-appliance-cache") == "hit", (question, r.headers)


def batch_histogram(metrics: str) -> str:
    """'size<=1: n, <=2: n, ...' from the cumulative Prometheus buckets."""
    counts: list[tuple[str, float]] = []
    for line in metrics.splitlines():
        match = re.match(r'appliance_embedding_batch_size_bucket\{le="([^"]+)"\} ([\d.e+]+)', line)
        if match:
            counts.append((match.group(1), float(match.group(2))))
    parts, before = [], 0.0
    for le, cumulative in counts:
        if cumulative > before:
            parts.append(f"<={le.removesuffix('.0')}: {cumulative - before:.0f}")
        before = cumulative
    return ", ".join(parts) or "no runs"


async def semantic_rows(
    server: Server, hits: int, concurrency: int, seconds: int, label: str = "memo off"
) -> list[tuple[str, dict]]:
    """Semantic hits on a running daemon: c=1 with httpx, then c=`concurrency` with wrk."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=120) as http:
        await warm(http)

        async def call(i: int) -> bool:
            r = await http.post("/chat/completions", json=body(PARAPHRASES[i % 4]))
            return r.status_code == 200 and r.headers.get("x-appliance-cache") == "hit"

        rows = [(f"semantic hit, {label}, c=1", (await drive(call, min(hits, 500), 1)).summary())]
        if shutil.which("wrk"):
            encoded = [json.dumps(body(t)) for t in PARAPHRASES]
            url = server.base_url + "/chat/completions"
            rows.append(
                (
                    f"semantic hit, {label}, c={concurrency} (wrk)",
                    wrk(url, encoded, concurrency, seconds),
                )
            )
        metrics = (await http.get(server.url + "/metrics")).text
    print(f"texts per encoder run, {label}:", batch_histogram(metrics))
    return rows


async def memo_off(hits: int, concurrency: int, seconds: int) -> list[tuple[str, dict]]:
    """Semantic hits with every text encoded, as a stream of never-seen wordings would be:
    on the default encoder (the int8 build on CPU), then on the packaged fp32 model as the
    same-run baseline."""
    rows = []
    for precision, label in (("auto", "memo off"), ("fp32", "memo off, fp32 encoder")):
        server = start_appliance({"cache": {"embedding_memo": 0, "encoder_precision": precision}})
        try:
            rows += await semantic_rows(server, hits, concurrency, seconds, label)
        finally:
            server.stop()
    return rows


async def measure(hits: int, concurrency: int, seconds: int) -> list[tuple[str, dict]]:
    """Every row of the table: hits memo on, memo off, then the local-model baseline."""
    server = start_appliance()
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=120) as http:
            await warm(http)

            def caller(texts: list[str], headers: dict[str, str] | None = None):
                async def call(i: int) -> bool:
                    r = await http.post(
                        "/chat/completions", json=body(texts[i % len(texts)]), headers=headers
                    )
                    return r.status_code == 200

                return call

            rows = [
                ("exact hit, c=1 (httpx)", (await drive(caller(STORED), hits, 1)).summary()),
                (
                    "semantic hit, c=1 (httpx)",
                    (await drive(caller(PARAPHRASES), min(hits, 500), 1)).summary(),
                ),
            ]
            url = server.base_url + "/chat/completions"
            if shutil.which("wrk"):
                for name, texts in (("exact", STORED), ("semantic", PARAPHRASES)):
                    encoded = [json.dumps(body(t)) for t in texts]
                    rows.append(
                        (
                            f"{name} hit, c={concurrency} (wrk)",
                            wrk(url, encoded, concurrency, seconds),
                        )
                    )
            else:
                print("(wrk not installed: concurrency rows use httpx, which bounds them)")
                sample = await drive(caller(STORED), hits, concurrency)
                rows.append((f"exact hit, c={concurrency} (httpx)", sample.summary()))
            nocache = {"cache-control": "no-cache"}
            rows.append(
                (
                    "baseline: miss to local model, c=1",
                    (await drive(caller(STORED, nocache), 20, 1)).summary(),
                )
            )
    finally:
        server.stop()
    rows[-1:-1] = await memo_off(hits, concurrency, seconds)
    return rows


async def main(hits: int, concurrency: int, seconds: int) -> None:
    print(table(await measure(hits, concurrency, seconds)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--hits", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.hits, args.concurrency, args.seconds))
