"""Two real appliances sharing one real Redis (`[fleet] redis_url`), as an operator runs them
behind a load balancer: a miss on A is a hit on B within a second, a budget holds across both,
and Redis killed mid-run costs no request and is caught up after it returns.

Tiers: the packaged llama.cpp model (free) and a priced "cloud" tier on the loopback fault
server (tests/faultserver.py, model "ok": a fixed answer with usage 5 + 4 tokens). The two
boxes share one key store (copied before they start, as docs/fleet.md says to), so a
client's id, and therefore its budget, is the same on both.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.redis_server import RedisServer
from tests.serving import Server, free_port, write_config

LOCAL = "smollm2-135m-instruct"
# USD per 1M tokens: a cloud answer (5 prompt + 4 completion tokens) costs $0.009.
PRICE = {"input": 1000.0, "output": 1000.0}
COST = 0.009
BUDGET = 0.05  # five answers fit ($0.045), the sixth starts below the budget and ends over it


class Fleet:
    def __init__(self, redis: RedisServer, a: Server, b: Server, keys: dict[str, str]):
        self.redis, self.a, self.b, self.keys = redis, a, b, keys


def _keys_add(config: Path, name: str, *options: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "appliance", "keys", "add", name, *options, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, fault_upstream: str) -> Iterator[Fleet]:
    redis = RedisServer(tmp_path_factory.mktemp("redis")).start()
    servers: list[Server] = []
    configs: list[Path] = []
    for name in ("a", "b"):
        directory = tmp_path_factory.mktemp(f"box-{name}")
        settings: dict[str, Any] = {
            "state_dir": str(directory / "state"),
            "tiers": [
                {"name": "local", "backend": "llamacpp", "model": LOCAL},
                {
                    "name": "cloud",
                    "backend": "openai",
                    "base_url": fault_upstream,
                    "model": "ok",
                    "price": PRICE,
                },
            ],
            "fleet": {"redis_url": redis.url, "box_name": name, "publish_interval_s": 0.5},
        }
        configs.append(write_config(directory / "appliance.toml", settings))
        servers.append(Server(configs[-1], free_port(), state_dir=directory / "state"))
    keys = {
        "alice": _keys_add(configs[0], "alice", "--budget", str(BUDGET)),
        "carol": _keys_add(configs[0], "carol", "--budget", str(BUDGET)),
        "bob": _keys_add(configs[0], "bob"),
    }
    # One key store for the fleet: box b starts with a copy of box a's.
    assert servers[1].state_dir is not None and servers[0].state_dir is not None
    servers[1].state_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(servers[0].state_dir / "keys.sqlite", servers[1].state_dir / "keys.sqlite")
    try:
        for server in servers:
            server.start()
        yield Fleet(redis, servers[0], servers[1], keys)
    finally:
        for server in servers:
            server.stop()
        redis.stop()


def ask(server: Server, key: str, text: str, model: str = LOCAL, **headers: str) -> httpx.Response:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": 4,
        "temperature": 0,
    }
    headers = {"authorization": f"Bearer {key}", **headers}
    return httpx.post(server.base_url + "/chat/completions", json=body, headers=headers, timeout=60)


def fleet_stats(server: Server) -> dict[str, Any]:
    with server.admin() as admin:
        response = admin.get("/admin/stats")
    assert response.status_code == 200, response.text
    fleet: dict[str, Any] = response.json()["fleet"]
    return fleet


def wait_for_redis(server: Server, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while fleet_stats(server)["redis"] != "up":
        assert time.monotonic() < deadline, fleet_stats(server)
        time.sleep(0.1)


def test_a_miss_on_one_box_is_a_hit_on_the_other_within_a_second(fleet: Fleet) -> None:
    key = fleet.keys["bob"]
    question = "Name one planet of the solar system."
    first = ask(fleet.a, key, question)
    answered = time.monotonic()
    assert first.status_code == 200, first.text
    assert first.headers["x-appliance-cache"] == "miss"
    entry = first.headers["x-appliance-cache-entry"]
    time.sleep(max(0.0, answered + 1.0 - time.monotonic()))  # ask b exactly 1 s later
    second = ask(fleet.b, key, question)
    assert second.headers["x-appliance-cache"] == "hit", second.headers
    assert second.headers["x-appliance-cache-entry"] == entry  # a's entry, replicated
    assert second.json()["choices"] == first.json()["choices"]
    stats = fleet_stats(fleet.b)
    assert stats["applied_entries"] >= 1 and stats["lag_p50_ms"] < 1000


def test_spend_on_one_box_exhausts_the_budget_on_the_other(fleet: Fleet) -> None:
    key = fleet.keys["alice"]
    statuses = []
    for i in range(10):
        box = fleet.a if i % 2 == 0 else fleet.b
        statuses.append(ask(box, key, f"paid question {i}", model="ok").status_code)
        time.sleep(0.05)  # each settle reaches Redis before the next request starts
    assert statuses == [200] * 6 + [429] * 4  # the sixth starts at $0.045 < $0.05
    spent = sum(
        c["month_usd"] for c in _clients(fleet.a) if c["name"] == "alice"
    )  # the fleet's figure, as /admin/stats shows it on either box
    assert round(spent, 6) == round(6 * COST, 6)
    assert BUDGET <= spent <= BUDGET + COST  # over by at most one request


def test_a_budget_holds_across_both_boxes_under_concurrency(fleet: Fleet) -> None:
    key = fleet.keys["carol"]

    def one(i: int) -> int:
        # Long enough that a hold's worst case (prompt + max_tokens) is at least what the
        # fault server bills (5 + 4 tokens): the premise of "over by one worst case".
        text = f"concurrent question number {i} about the weather in three cities today"
        return ask(fleet.a if i % 2 == 0 else fleet.b, key, text, model="ok").status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(one, range(32)))
    holds = [fleet_stats(s)["holds"] for s in (fleet.a, fleet.b)]
    if not any(h.get("holds_fleet") for h in holds):
        pytest.skip("the pipeline does not hold budgets before paid calls yet (BudgetStore.hold)")
    answered = statuses.count(200)
    assert statuses.count(200) + statuses.count(429) == len(statuses)
    assert answered >= 1 and answered * COST <= BUDGET + COST, statuses


def test_redis_killed_mid_run_fails_no_request_and_is_caught_up(fleet: Fleet) -> None:
    """Steady traffic on both boxes (cache hits, local misses, paid answers) before, during
    and after an outage; each phase lasts until it has served a few requests, however slow
    the machine is."""
    key = fleet.keys["bob"]
    phase = ["before"]
    served: list[tuple[str, int]] = []
    stop = threading.Event()

    def traffic() -> None:
        i = 0
        while not stop.is_set():
            box = fleet.a if i % 2 == 0 else fleet.b
            if i % 3 == 2:  # a paid answer, never cached: the budget path
                response = ask(box, key, f"paid {i}", model="ok", **{"cache-control": "no-store"})
            else:  # three questions asked over and over: hits once answered
                response = ask(box, key, f"Say the number {i % 3}.")
            served.append((phase[0], response.status_code))
            i += 1

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 60
        while sum(1 for p, _ in served if p == phase[0]) < count:
            assert time.monotonic() < deadline, served
            time.sleep(0.05)

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        wait_for(6)
        fleet.redis.kill()
        phase[0] = "during"
        wait_for(6)
        during = ask(fleet.a, key, "Asked while Redis was down.")
        assert during.status_code == 200
        assert fleet_stats(fleet.a)["redis"].startswith("down")
        assert fleet_stats(fleet.a)["queued_writes"] >= 1
        fleet.redis.start()
        phase[0] = "after"
        wait_for_redis(fleet.a)
        wait_for_redis(fleet.b)
        deadline = time.monotonic() + 20
        while fleet_stats(fleet.a)["queued_writes"]:  # a's queued writes replayed
            assert time.monotonic() < deadline
            time.sleep(0.1)
        wait_for(6)
    finally:
        stop.set()
        worker.join()
    assert {status for _, status in served} == {200}, served
    again = ask(fleet.b, key, "Asked while Redis was down.")
    assert again.headers["x-appliance-cache"] == "hit"
    assert again.headers["x-appliance-cache-entry"] == during.headers["x-appliance-cache-entry"]


def _clients(server: Server) -> list[dict[str, Any]]:
    with server.admin() as admin:
        clients: list[dict[str, Any]] = admin.get("/admin/stats").json()["clients"]
    return clients
