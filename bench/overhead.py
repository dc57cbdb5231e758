"""Gateway overhead on a miss, side by side in one run: the upstream called directly, through
the appliance, and through LiteLLM's proxy, all against the same fast upstream.

    .venv/bin/python bench/overhead.py [--requests 500] [--litellm /tmp/litellm-venv/bin/litellm]

The upstream is tests/faultserver.py in its `ok` mode (a canned completion in well under a
millisecond of work), so the difference between rows is the gateway itself. LiteLLM runs from
its own venv (`python3 -m venv /tmp/litellm-venv && /tmp/litellm-venv/bin/pip install
'litellm[proxy]'`); without it that row is skipped. Target: our p50 overhead <= 3 ms and <= a
third of LiteLLM's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from loadgen import ROOT, Sample, drive, free_port, percentile, start_appliance, table

# LiteLLM refuses to start without a master key; the bench sends it as the bearer token.
MASTER_KEY = "sk-bench-0123456789abcdef0123456789abcdef"
BODY = {"model": "ok", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}


def wait_for(url: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def start_litellm(binary: str, upstream: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = Path(tempfile.mkdtemp()) / "litellm.yaml"
    config.write_text(
        "model_list:\n  - model_name: ok\n    litellm_params:\n      model: openai/ok\n"
        f"      api_base: {upstream}\n      api_key: none\n"
        "litellm_settings:\n  drop_params: true\n"
    )
    env = {**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_MASTER_KEY": MASTER_KEY}
    process = subprocess.Popen(
        [binary, "--config", str(config), "--port", str(port), "--num_workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(url + "/health/liveliness")
    return process, url + "/v1"


async def measure(base_url: str, requests: int) -> Sample:
    """Every request is a distinct question, so a cache (where on) always misses."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:

        async def call(i: int) -> bool:
            body = {**BODY, "messages": [{"role": "user", "content": f"hello number {i}"}]}
            r = await http.post(
                "/chat/completions", json=body, headers={"authorization": f"Bearer {MASTER_KEY}"}
            )
            return r.status_code == 200

        await drive(call, 50, 1)  # warm-up
        return await drive(call, requests, 1)


def measure_rows(requests: int, litellm: str) -> list[tuple[str, Sample]]:
    """Direct, through the appliance (cache off, cache on), through LiteLLM where installed."""
    port = free_port()
    upstream_process = subprocess.Popen(
        [sys.executable, "-m", "tests.faultserver", str(port)], cwd=ROOT
    )
    upstream = f"http://127.0.0.1:{port}/v1"
    wait_for(f"http://127.0.0.1:{port}/")
    tiers = [{"name": "cloud", "backend": "openai", "base_url": upstream, "model": "ok"}]
    # The gateway alone (cache off), and with its semantic cache on: every miss then pays one
    # MiniLM embedding (for the lookup, and for the router when there are several tiers).
    appliance = start_appliance({"tiers": tiers, "cache": {"enabled": False}})
    cached = start_appliance({"tiers": tiers})
    litellm_process = None
    try:
        rows = [("direct to upstream", asyncio.run(measure(upstream, requests)))]
        rows.append(("through the appliance", asyncio.run(measure(appliance.base_url, requests))))
        rows.append(
            ("appliance, cache on (misses)", asyncio.run(measure(cached.base_url, requests)))
        )
        if Path(litellm).exists():
            litellm_process, litellm_url = start_litellm(litellm, upstream)
            rows.append(("through LiteLLM proxy", asyncio.run(measure(litellm_url, requests))))
        else:
            print(f"(LiteLLM not found at {litellm}; its row is skipped)")
    finally:
        appliance.stop()
        cached.stop()
        upstream_process.kill()
        if litellm_process is not None:
            litellm_process.kill()
    return rows


def overheads(rows: list[tuple[str, Sample]]) -> dict[str, float]:
    """p50 of each gateway row minus p50 of the direct row, in ms."""
    direct = percentile(sorted(rows[0][1].latencies_ms), 50)
    return {name: percentile(sorted(s.latencies_ms), 50) - direct for name, s in rows[1:]}


def main(requests: int, litellm: str) -> None:
    rows = measure_rows(requests, litellm)
    print(table([(name, s.summary()) for name, s in rows]))
    for name, extra in overheads(rows).items():
        print(f"overhead p50 {name}: {extra:.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--litellm", default="/tmp/litellm-venv/bin/litellm")
    args = parser.parse_args()
    main(args.requests, args.litellm)
