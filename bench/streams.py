"""Many concurrent streaming clients for a long time: the appliance answers or refuses
explicitly (429/503 with Retry-After), its memory stays flat, and every answered request has
its ledger row.

    .venv/bin/python bench/streams.py [--clients 1000] [--minutes 10] [--fd-limit 8192]

The upstream is tests/faultserver.py in `slow-stream` mode (a real OpenAI-compatible server
on loopback streaming for ~2 s per answer), so this measures the gateway, not a model. The
baseline beside it: the same clients straight to the upstream, for a short run.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import subprocess
import time
from typing import Any

import httpx
import psutil
from loadgen import ROOT, start_appliance

from tests.serving import start_loopback


def start_upstream() -> tuple[subprocess.Popen[bytes], str]:
    return start_loopback("tests.faultserver", "/health", cwd=ROOT)


async def clients(base_url: str, n: int, seconds: float, model: str) -> dict[str, Any]:
    statuses: collections.Counter[str] = collections.Counter()
    missing_retry_after = 0
    answered: list[str] = []
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as http:

        async def one(i: int) -> None:
            nonlocal missing_retry_after
            while time.monotonic() < deadline:
                body = {
                    "model": model,
                    "stream": True,
                    "messages": [{"role": "user", "content": f"client {i} at {time.time()}"}],
                }
                try:
                    async with http.stream("POST", "/chat/completions", json=body) as response:
                        text = (await response.aread()).decode(errors="replace")
                except httpx.HTTPError as exc:
                    statuses[f"transport:{type(exc).__name__}"] += 1
                    await asyncio.sleep(1)
                    continue
                statuses[str(response.status_code)] += 1
                if response.status_code == 200 and "[DONE]" in text:
                    answered.append(response.headers.get("x-request-id", ""))
                elif response.status_code in (429, 503):
                    retry = response.headers.get("retry-after")
                    missing_retry_after += retry is None
                    await asyncio.sleep(float(retry or 1))

        await asyncio.gather(*(one(i) for i in range(n)))
    return {"statuses": dict(statuses), "missing_retry_after": missing_retry_after, "ids": answered}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fd-limit", type=int, default=8192)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    upstream, upstream_url = start_upstream()
    tier = {"name": "cloud", "backend": "openai", "base_url": upstream_url, "model": "slow-stream"}
    server = start_appliance({"tiers": [tier], "cache": {"enabled": False}}, fd_limit=args.fd_limit)
    try:
        assert server.process is not None
        proc = psutil.Process(server.process.pid)
        rss: list[tuple[float, float]] = []

        async def sample() -> None:
            began = time.monotonic()
            while True:
                rss.append((time.monotonic() - began, proc.memory_info().rss / 2**20))
                await asyncio.sleep(5)

        async def run() -> dict[str, Any]:
            sampler = asyncio.create_task(sample())
            result = await clients(server.base_url, args.clients, args.minutes * 60, "auto")
            sampler.cancel()
            return result

        result = asyncio.run(run())
        baseline = asyncio.run(clients(upstream_url, min(args.clients, 200), 20, "slow-stream"))
        time.sleep(1)
        with server.admin() as admin:
            rows = admin.get("/admin/ledger", params={"since": 0}).json()
        recorded = {r["request_id"] for r in rows}
        ids = result.pop("ids")
        lost = [i for i in ids if i not in recorded]
        warm = [m for t, m in rss if t >= 60] or [m for _, m in rss]
        report = {
            "clients": args.clients,
            "minutes": args.minutes,
            "appliance": result,
            "answered": len(ids),
            "answered_per_s": len(ids) / (args.minutes * 60),
            "ledger_rows_missing": len(lost),
            "rss_mb_after_warmup_first_last_max": [warm[0], warm[-1], max(warm)],
            "baseline_direct_200_clients_20s": {
                "statuses": baseline["statuses"],
                "answered_per_s": len(baseline["ids"]) / 20,
            },
        }
    finally:
        server.stop()
        upstream.kill()
    print(
        json.dumps(report, indent=2)
        if args.json
        else "\n".join(f"{k:36} {v}" for k, v in report.items())
    )


if __name__ == "__main__":
    main()
