"""Many concurrent streaming clients against a daemon short of descriptors: every request is
answered or refused explicitly (429/503 with Retry-After), and every answer has its ledger
row. The long form with memory figures is bench/streams.py."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import streams

from tests.conftest import ServerFactory


def test_concurrent_streams_are_answered_or_refused_explicitly(
    server_factory: ServerFactory, fault_upstream: str
) -> None:
    tier = {
        "name": "cloud",
        "backend": "openai",
        "base_url": fault_upstream,
        "model": "slow-stream",
    }
    # 640 descriptors: 192 connections (each with its upstream call), fewer than 240 clients.
    server = server_factory({"tiers": [tier], "cache": {"enabled": False}}, fd_limit=640)
    result = asyncio.run(streams.clients(server.base_url, 240, 15, "auto"))
    statuses = result["statuses"]
    # At the descriptor limit the kernel may reset the odd refused connection before its
    # client reads the 503 (1 in ~950 on a loaded 2-core CI box; 4.4% of attempts with 1,000
    # clients on 1,024 descriptors, bench/streams.py). Anything else, or more than 1%, fails.
    transport = {k: v for k, v in statuses.items() if k.startswith("transport:")}
    assert set(statuses) - set(transport) <= {"200", "429", "503"}, statuses
    assert sum(transport.values()) <= 0.01 * sum(statuses.values()), statuses
    assert statuses.get("200", 0) > 240
    assert result["missing_retry_after"] == 0
    with server.admin() as admin:
        rows = admin.get("/admin/ledger", params={"since": 0}).json()
    recorded = {r["request_id"] for r in rows}
    assert [i for i in result["ids"] if i not in recorded] == []
    assert "Traceback" not in server.log()
