"""The fleet's cost and its replication lag, measured in one run: hit latency with the fleet
off (one box alone) and on (a box whose entries were replicated from another), the one
Redis call left on the request path (a budgeted client's check), and how long an answer
stored on box A takes to be served on box B.

    .venv/bin/python bench/fleet.py [--hits 1000] [--entries 300]

Needs `redis-server` on PATH (apt-get install redis-server); starts its own on a free port,
then three appliances: "alone" (no [fleet]) and A and B sharing the Redis. Their one tier is
the loopback fault server (tests/faultserver.py: an instant answer), so misses cost ~nothing
and the numbers are the appliance's own. Replication lag is measured twice: as the daemons
report it (entry created on A -> applied on B, in B's /admin/stats) and in-process on the
real `Fleet` parts (store on A -> `lookup_exact` hits on B, polled every 50 us).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np
from cache_http import PARAPHRASES, STORED
from loadgen import ROOT, Sample, drive, percentile, table

from appliance.cache.scope import build_key
from appliance.config import CacheConfig, FleetConfig
from appliance.fleet.fleet import Fleet
from tests.redis_server import RedisServer
from tests.serving import Server, free_port, write_config

FAULTSERVER = [sys.executable, "-m", "tests.faultserver"]


def body(content: str, model: str = "ok") -> dict[str, object]:
    return {"model": model, "max_tokens": 8, "messages": [{"role": "user", "content": content}]}


def appliance(directory: Path, upstream: str, redis_url: str | None, box: str) -> Server:
    settings: dict[str, Any] = {
        "state_dir": str(directory / "state"),
        "tiers": [
            {
                "name": "cloud",
                "backend": "openai",
                "base_url": upstream,
                "model": "ok",
                "price": {"input": 0.1, "output": 0.1},
            }
        ],
    }
    if redis_url:
        settings["fleet"] = {"redis_url": redis_url, "box_name": box, "publish_interval_s": 1.0}
    directory.mkdir(parents=True, exist_ok=True)
    path = write_config(directory / "appliance.toml", settings)
    return Server(path, free_port(), state_dir=directory / "state")


def add_key(server: Server) -> str:
    command = ["appliance", "keys", "add", "bench", "--budget", "1000"]
    out = subprocess.run(
        [sys.executable, "-m", *command, "--config", str(server.config_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


async def hit_rows(alone: Server, a: Server, b: Server, key: str, hits: int) -> list[Any]:
    auth = {"authorization": f"Bearer {key}"}
    rows = []
    async with (
        httpx.AsyncClient(base_url=alone.base_url, timeout=60, headers=auth) as solo,
        httpx.AsyncClient(base_url=a.base_url, timeout=60, headers=auth) as on_a,
        httpx.AsyncClient(base_url=b.base_url, timeout=60, headers=auth) as on_b,
    ):
        for question in STORED:  # stored alone, and on A (then replicated to B)
            await solo.post("/chat/completions", json=body(question))
            await on_a.post("/chat/completions", json=body(question))
        await asyncio.sleep(1.5)
        check = await on_b.post("/chat/completions", json=body(STORED[0]))
        assert check.headers["x-appliance-cache"] == "hit", "B did not get A's entries"

        def caller(
            http: httpx.AsyncClient, texts: list[str], headers: dict[str, str] | None = None
        ):
            async def call(i: int) -> bool:
                r = await http.post(
                    "/chat/completions", json=body(texts[i % len(texts)]), headers=headers
                )
                return r.status_code == 200

            return call

        nostore = {"cache-control": "no-store"}
        kinds = (
            ("exact hit", STORED, None, hits),
            ("semantic hit", PARAPHRASES, None, hits // 2),
            ("budgeted miss", STORED, nostore, hits // 2),
        )
        for name, texts, headers, n in kinds:
            # Off and on alternate in rounds of 50, so a neighbour's load hits both alike.
            off, on = Sample(), Sample()
            for _ in range(max(1, n // 50)):
                for sample, http in ((off, solo), (on, on_b)):
                    part = await drive(caller(http, texts, headers), 50, 1)
                    sample.latencies_ms += part.latencies_ms
                    sample.errors += part.errors
                    sample.elapsed_s += part.elapsed_s
            rows.append((f"{name}, fleet off", off.summary()))
            rows.append((f"{name}, fleet on (B)", on.summary()))
    return rows


async def daemon_lag(a: Server, b: Server, key: str, entries: int) -> dict[str, float]:
    """A stores `entries` new answers; B reports the lag of what it applied."""
    auth = {"authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=a.base_url, timeout=60, headers=auth) as on_a:
        for i in range(entries):
            await on_a.post("/chat/completions", json=body(f"distinct question number {i}"))
    await asyncio.sleep(2.5)  # the last stores, then B's figures
    with b.admin() as admin:
        fleet = admin.get("/admin/stats").json()["fleet"]
    return {
        "n": fleet["applied_entries"],
        "p50_ms": fleet["lag_p50_ms"],
        "p99_ms": fleet["lag_p99_ms"],
    }


def in_process_lag(redis_url: str, entries: int) -> dict[str, float]:
    """Store on A -> B's `lookup_exact` hits, on the real parts, polled every 50 us."""
    base = Path(tempfile.mkdtemp(prefix="fleet-lag-"))
    config = msgspec.convert({"redis_url": redis_url, "key_prefix": "lagbench"}, FleetConfig)
    cache_config = CacheConfig(index_save_interval_s=3600)
    boxes = []
    for name in ("a", "b"):
        fleet = Fleet(config, name, base / name)
        cache = fleet.open_cache(base / name / "cache", cache_config, 384)
        fleet.start()
        boxes.append((fleet, cache))
    cache_a, cache_b = boxes[0][1], boxes[1][1]
    time.sleep(1.0)  # both followers caught up
    rng = np.random.default_rng(0)
    lags = []
    try:
        for i in range(entries):
            key = build_key("ns", "m", [{"role": "user", "content": f"question {i}"}], {})
            vector = rng.standard_normal(384).astype(np.float32)
            began = time.perf_counter()
            cache_a.store(cache_a.new_entry_id(), key, vector / np.linalg.norm(vector), b"{}")
            while cache_b.lookup_exact(key) is None:
                time.sleep(0.00005)
                if time.perf_counter() - began > 5:
                    raise RuntimeError("entry never reached B")
            lags.append((time.perf_counter() - began) * 1000)
    finally:
        for fleet, cache in boxes:
            fleet.close()
            cache.close()
        shutil.rmtree(base, ignore_errors=True)
    lags.sort()
    return {"n": len(lags), "p50_ms": percentile(lags, 50), "p99_ms": percentile(lags, 99)}


async def main(hits: int, entries: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    redis = RedisServer(work / "redis", persist=False).start()
    port = free_port()
    upstream = subprocess.Popen([*FAULTSERVER, str(port)], cwd=ROOT)
    servers = []
    try:
        url = f"http://127.0.0.1:{port}/v1"
        alone = appliance(work / "alone", url, None, "alone")
        a, b = (
            appliance(work / "a", url, redis.url, "a"),
            appliance(work / "b", url, redis.url, "b"),
        )
        key = add_key(a)  # one key store for all three: the same client, the same budget
        for other in ("alone", "b"):
            (work / other / "state").mkdir(parents=True, exist_ok=True)
            shutil.copy(work / "a" / "state" / "keys.sqlite", work / other / "state")
        for server in (alone, a, b):
            servers.append(server.start())
        rows = await hit_rows(alone, a, b, key, hits)
        rows.append(("replication lag, daemons (A->B)", await daemon_lag(a, b, key, entries)))
        for server in servers:
            server.stop()
        rows.append(("replication lag, in-process", in_process_lag(redis.url, entries)))
        print(table(rows))
    finally:
        for server in servers:
            server.stop()
        upstream.kill()
        upstream.wait()
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--hits", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.hits, args.entries))
