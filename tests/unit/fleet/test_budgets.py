"""Budgets across boxes: one Lua script per hold, so the fleet overshoots a budget by at most
one request's worst case however the requests are spread; holds expire; each box's spend is
written as its absolute total; Redis down -> the box decides from its local view, fast."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from appliance.fleet.budgets import SpendOp, month_key
from appliance.ledger.budgets import Hold
from tests.redis_server import RedisServer
from tests.unit.fleet.conftest import Box, BoxFactory
from tests.unit.fleet.test_replication import wait_for


@dataclass(frozen=True)
class Client:
    id: str
    budget_usd_month: float | None


def test_spend_and_holds_on_one_box_count_on_the_other(make_box: BoxFactory) -> None:
    a, b = make_box("a"), make_box("b")
    alice = Client("alice", 1.0)
    on_a = Hold("alice")
    assert a.budgets.hold(alice, on_a, 0.6)
    assert b.budgets.hold(alice, Hold("alice"), 0.6)  # 0.6 < 1.0 before it: the one overshoot
    assert not b.budgets.hold(alice, Hold("alice"), 0.01)  # 1.2 held across the fleet
    assert a.budgets.is_exhausted(alice) and b.budgets.is_exhausted(alice)
    a.budgets.settle(on_a, 0.1)  # releases a's 0.6, spends 0.1
    assert a.fleet.writer.flush(5.0)
    assert b.budgets.hold(alice, Hold("alice"), 0.2)  # 0.1 spent + 0.6 held = 0.7 < 1.0
    wait_for(lambda: round(b.budgets.spent("alice"), 6) == 0.1)  # b's view of a's spend


def test_concurrent_holds_on_two_boxes_overshoot_by_at_most_one_worst_case(
    make_box: BoxFactory,
) -> None:
    a, b = make_box("a"), make_box("b")
    client = Client("c", 4.0)
    granted: list[tuple[Box, Hold]] = []
    lock = threading.Lock()

    def request(box: Box) -> None:
        held = Hold("c")
        if box.budgets.hold(client, held, 1.0):
            with lock:
                granted.append((box, held))

    threads = [threading.Thread(target=request, args=(a if i % 2 else b,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 4  # 4 x 1.0 reach 4.0: the fifth is refused, on either box
    for box, held in granted:
        box.budgets.settle(held, 1.0)
    assert a.fleet.writer.flush(5.0) and b.fleet.writer.flush(5.0)
    wait_for(lambda: round(a.budgets.spent("c"), 6) == 4.0 == round(b.budgets.spent("c"), 6))
    assert not a.budgets.hold(client, Hold("c"), 0.01)


def test_a_hold_never_settled_expires(make_box: BoxFactory) -> None:
    a, b = make_box("a", hold_ttl_s=0.5), make_box("b", hold_ttl_s=0.5)
    client = Client("c", 1.0)
    assert a.budgets.hold(client, Hold("c"), 1.0)  # a crashes before settling it
    assert not b.budgets.hold(client, Hold("c"), 0.1)
    time.sleep(0.6)
    assert b.budgets.hold(client, Hold("c"), 0.1)


def test_each_box_writes_its_absolute_total_so_a_replay_counts_once(
    make_box: BoxFactory,
) -> None:
    a = make_box("a")
    a.budgets.add("c", 0.5)
    a.budgets.add("c", 0.25)
    assert a.fleet.writer.flush(5.0)
    r = a.fleet.link.slow
    key = a.budgets._layout.box(month_key(time.time()), "a")
    assert float(r.hget(key, "c") or 0) == 0.75
    SpendOp(a.budgets, month_key(time.time()), "c").apply(r)  # replayed after an outage
    a.budgets.resend(r)
    assert float(r.hget(key, "c") or 0) == 0.75


def test_with_redis_down_a_box_decides_locally_without_waiting(
    make_box: BoxFactory, redis_server: RedisServer
) -> None:
    a, b = make_box("a"), make_box("b")
    client = Client("c", 1.0)
    a.budgets.add("c", 0.7)
    assert a.fleet.writer.flush(5.0)
    wait_for(lambda: round(b.budgets.spent("c"), 6) == 0.7)  # b has seen a's spend
    redis_server.kill()
    try:
        began = time.monotonic()
        assert b.budgets.hold(client, Hold("c"), 0.2)  # the failed call: one short timeout
        first = time.monotonic() - began
        began = time.monotonic()
        assert b.budgets.hold(client, Hold("c"), 0.2)  # 0.7 seen + 0.2 held < 1.0
        assert not b.budgets.hold(client, Hold("c"), 0.2)  # 0.7 + 0.4 >= 1.0
        local = time.monotonic() - began
        assert first < 0.5 and local < 0.05, (first, local)
        assert b.budgets.counts["holds_local"] == 2
        assert b.fleet.stats().budgets == "local"
        b.budgets.add("c", 0.05)  # queued
    finally:
        redis_server.start()
    wait_for(lambda: b.fleet.link.is_up and not len(b.fleet.outbox), 15.0)
    wait_for(lambda: round(a.budgets.spent("c"), 6) == 0.75, 15.0)
