"""Each client's month-to-date spend against its monthly budget.

It owns the in-memory counters the request path checks on every call, seeded from the ledger
and kept current after each ledger write. It must not know how clients authenticate: a client
is anything with an `id` and a `budget_usd_month` (the `Budgeted` protocol).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from appliance.ledger.aggregates import month_bounds, month_spend_by_client
from appliance.ledger.db import Ledger


class Budgeted(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def budget_usd_month(self) -> float | None: ...


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
        self._month_start = 0.0
        self._month_end = 0.0
        self._roll(clock())

    def _roll(self, now: float) -> None:
        self._month_start, self._month_end = month_bounds(now)
        self._spent = month_spend_by_client(self._ledger, self._month_start) if self._ledger else {}

    def _current(self) -> dict[str, float]:
        now = self._clock()
        if not self._month_start <= now < self._month_end:
            self._roll(now)
        return self._spent

    def add(self, client_id: str, usd: float) -> None:
        with self._lock:
            spent = self._current()
            spent[client_id] = spent.get(client_id, 0.0) + usd

    def spent(self, client_id: str) -> float:
        with self._lock:
            return self._current().get(client_id, 0.0)

    def remaining(self, client: Budgeted) -> float | None:
        """USD left this month; None when the client has no budget."""
        if client.budget_usd_month is None:
            return None
        return max(client.budget_usd_month - self.spent(client.id), 0.0)

    def is_exhausted(self, client: Budgeted) -> bool:
        remaining = self.remaining(client)
        return remaining is not None and remaining <= 0.0

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self._current())
