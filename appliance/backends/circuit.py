"""A circuit breaker per backend: stop sending traffic to a tier that keeps failing.

closed --(N consecutive failures)--> open --(open_s elapses)--> half-open
half-open: one probe request goes through; success closes, failure re-opens.
An upstream 429/402 opens the circuit for its Retry-After (or `cooldown_429_s`) even on the
first occurrence: a rate-limited provider will refuse the next request too, and a tier with a
single backend must still cool down rather than hammer it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from appliance.config import CircuitConfig

State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    def __init__(self, config: CircuitConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._failures = 0
        self._open_until = 0.0
        self._probing = False
        self.opened_total = 0

    @property
    def failures(self) -> int:
        """Consecutive failures since the last success."""
        return self._failures

    @property
    def state(self) -> State:
        if self._open_until == 0.0:
            return "closed"
        if self._clock() < self._open_until:
            return "open"
        return "half-open"

    def allow(self) -> bool:
        """May a request go to this backend now? In half-open, only one probe at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "open" or self._probing:
            return False
        self._probing = True
        return True

    def would_allow(self) -> bool:
        """Like `allow` but without claiming the probe (for planning and health display)."""
        state = self.state
        return state == "closed" or (state == "half-open" and not self._probing)

    def record_success(self) -> None:
        self._failures = 0
        self._open_until = 0.0
        self._probing = False

    def record_failure(
        self, retry_after_s: float | None = None, rate_limited: bool = False
    ) -> None:
        self._probing = False
        if rate_limited:
            wait = retry_after_s if retry_after_s is not None else self.config.cooldown_429_s
            self._open(max(wait, 0.0))
            return
        self._failures += 1
        if self._failures >= self.config.failures_to_open or self._open_until:
            self._open(self.config.open_s)

    def _open(self, seconds: float) -> None:
        self._open_until = self._clock() + seconds
        self.opened_total += 1
