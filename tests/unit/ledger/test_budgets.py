"""Holds make a budget hold under concurrency: at most one request's worst case over."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from appliance.ledger.budgets import BudgetTracker, Hold


@dataclass(frozen=True)
class _Client:
    id: str
    budget_usd_month: float | None


def test_a_hold_is_refused_once_spend_and_holds_reach_the_budget() -> None:
    budgets = BudgetTracker()
    alice = _Client("alice", 1.0)
    first, second = Hold("alice"), Hold("alice")
    assert budgets.hold(alice, first, 0.6)
    assert budgets.hold(alice, second, 0.6)  # 0.6 held < 1.0: admitted, may overshoot once
    assert not budgets.hold(alice, Hold("alice"), 0.01)
    assert budgets.held("alice") == 1.2
    budgets.settle(first, 0.1)
    budgets.settle(second, 0.2)
    assert budgets.held("alice") == 0.0
    assert round(budgets.spent("alice"), 6) == 0.3
    assert budgets.hold(alice, Hold("alice"), 0.5)


def test_no_budget_means_every_hold_is_granted() -> None:
    budgets = BudgetTracker()
    assert all(budgets.hold(_Client("bob", None), Hold("bob"), 100.0) for _ in range(10))


def test_concurrent_holds_overshoot_by_at_most_one_worst_case() -> None:
    budgets = BudgetTracker()
    client = _Client("c", 4.0)
    granted: list[Hold] = []
    lock = threading.Lock()

    def request() -> None:
        held = Hold("c")
        if budgets.hold(client, held, 1.0):
            with lock:
                granted.append(held)

    threads = [threading.Thread(target=request) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 4
    for held in granted:
        budgets.settle(held, 1.0)
    assert budgets.spent("c") == 4.0 and budgets.is_exhausted(client)
