"""Each client's month-to-date spend against its monthly budget, and the holds that make a
budget hold under concurrency.

A check-then-spend budget lets 40 concurrent requests through when 4 are affordable: each
sees the same "not spent yet". So before a paid call the request *holds* its worst case
(prompt tokens x input price + max_tokens x output price); a hold is refused once spend plus
holds reach the budget, and is released when the request is settled with what it really
cost. A client can therefore overshoot its budget by at most one request's worst case.

It owns the counters (seeded from the ledger, kept current at each settle) and the holds. It
must not know how clients authenticate: a client is anything with an `id` and a
`budget_usd_month` (the `Budgeted` protocol). `BudgetStore` is the seam a fleet replaces
(the same operations, atomic across boxes in Redis).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from appliance.ledger.aggregates import month_bounds, month_spend_by_client
from appliance.ledger.db import Ledger


class Budgeted(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def budget_usd_month(self) -> float | None: ...


@dataclass
class Hold:
    """What one request holds against its client's budget (grown attempt by attempt)."""

    client_id: str
    usd: float = 0.0
    month_start: float = 0.0


class BudgetStore(Protocol):
    def hold(self, client: Budgeted, held: Hold, usd: float) -> bool:
        """Add `usd` to `held` if the client's budget allows it (spend + holds below the
        budget before this hold); False leaves everything as it was. No budget: always True."""
        ...

    def settle(self, held: Hold, usd: float) -> None:
        """Release the hold and record `usd` as spent (what the request really cost)."""
        ...

    def spent(self, client_id: str) -> float: ...

    def is_exhausted(self, client: Budgeted) -> bool: ...

    def snapshot(self) -> dict[str, float]: ...


class BudgetTracker:
    """Month-to-date spend per client id, in memory, for a check on every request.

    Seeded from the ledger at start (one indexed SQL sum), then kept current by `add()` after
    each ledger write. At the first use after the local month ends, the counters are reseeded
    from the ledger for the new month rather than just zeroed, so rows written around midnight
    are not lost.
    """

    def __init__(
        self, ledger: Ledger | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._ledger = ledger
        self._clock = clock
        self._lock = threading.Lock()
        self._spent: dict[str, float] = {}
        self._held: dict[str, float] = {}
        self._month_start = 0.0
        self._month_end = 0.0
        self._roll(clock())

    def _roll(self, now: float) -> None:
        self._month_start, self._month_end = month_bounds(now)
        self._spent = month_spend_by_client(self._ledger, self._month_start) if self._ledger else {}
        self._held = {}

    def _current(self) -> dict[str, float]:
        now = self._clock()
        if not self._month_start <= now < self._month_end:
            self._roll(now)
        return self._spent

    def add(self, client_id: str, usd: float) -> None:
        with self._lock:
            spent = self._current()
            spent[client_id] = spent.get(client_id, 0.0) + usd

    def hold(self, client: Budgeted, held: Hold, usd: float) -> bool:
        with self._lock:
            spent = self._current()
            if held.month_start != self._month_start:  # a new hold, or one from last month
                held.usd, held.month_start = 0.0, self._month_start
            budget = client.budget_usd_month
            committed = spent.get(client.id, 0.0) + self._held.get(client.id, 0.0)
            if budget is not None and committed >= budget:
                return False
            self._held[client.id] = self._held.get(client.id, 0.0) + usd
            held.usd += usd
            return True

    def settle(self, held: Hold, usd: float) -> None:
        with self._lock:
            spent = self._current()
            if held.month_start == self._month_start and held.usd:
                left = self._held.get(held.client_id, 0.0) - held.usd
                self._held[held.client_id] = max(left, 0.0)
            held.usd = 0.0
            if usd:
                spent[held.client_id] = spent.get(held.client_id, 0.0) + usd

    def held(self, client_id: str) -> float:
        with self._lock:
            self._current()
            return self._held.get(client_id, 0.0)

    def spent(self, client_id: str) -> float:
        with self._lock:
            return self._current().get(client_id, 0.0)

    def remaining(self, client: Budgeted) -> float | None:
        """USD left this month after spend and open holds; None when the client has no
        budget."""
        if client.budget_usd_month is None:
            return None
        with self._lock:
            committed = self._current().get(client.id, 0.0) + self._held.get(client.id, 0.0)
        return max(client.budget_usd_month - committed, 0.0)

    def is_exhausted(self, client: Budgeted) -> bool:
        remaining = self.remaining(client)
        return remaining is not None and remaining <= 0.0

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self._current())
