"""Writes to Redis, queued and made by one background thread, so Redis is never waited on by
a request, and replayed in order once Redis answers again.

It owns the bounded queue (the oldest writes are dropped past `queue_max`, counted, never
blocking the caller), the writer thread, its periodic jobs (figures, budget view, pruning)
and the hooks run after an outage before the queue is replayed (the budget spend is re-sent
whole). It must not know what an operation writes: each `Op` writes itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import redis

from appliance.fleet.link import RedisLink, RedisTrouble

log = logging.getLogger("appliance.fleet")
# Writes per step before the periodic jobs get their turn, so a busy box still publishes.
_BATCH = 500

Job = Callable[[redis.Redis], None]


class Op(Protocol):
    """One queued write; `apply` may run more than once (a replay after a failure half-way),
    so it must be idempotent."""

    def apply(self, r: redis.Redis) -> None: ...


class Outbox:
    """A bounded FIFO of writes, drained by `Writer` (see the module docstring)."""

    def __init__(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._items: deque[Op] = deque()
        self._cond = threading.Condition()
        self.dropped = 0
        self.written = 0

    def put(self, op: Op) -> None:
        with self._cond:
            if len(self._items) >= self._limit:
                self._items.popleft()
                self.dropped += 1
            self._items.append(op)
            self._cond.notify()

    def __len__(self) -> int:
        return len(self._items)

    def wait(self, timeout_s: float) -> None:
        with self._cond:
            if not self._items:
                self._cond.wait(timeout_s)

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def first(self) -> Op | None:
        with self._cond:
            return self._items[0] if self._items else None

    def pop(self, op: Op) -> None:
        """Remove `op` once written (unless the bound already dropped it meanwhile)."""
        with self._cond:
            if self._items and self._items[0] is op:
                self._items.popleft()
            self.written += 1


class Writer:
    """The thread that drains the outbox and runs the periodic jobs every `interval_s`."""

    def __init__(self, link: RedisLink, outbox: Outbox, interval_s: float) -> None:
        self._link = link
        self._outbox = outbox
        self._interval_s = interval_s
        self._periodic: list[Job] = []
        self._on_reconnect: list[Job] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet-writer", daemon=True)
        self._resync = True  # the reconnect hooks also run once at start
        self._next_tick = 0.0

    def every_interval(self, job: Job) -> None:
        self._periodic.append(job)

    def after_reconnect(self, job: Job) -> None:
        self._on_reconnect.append(job)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._outbox.wait(max(0.0, min(self._interval_s, self._next_tick - time.monotonic())))
            if self._stop.is_set():
                break
            if not self._link.usable():
                self._stop.wait(0.1)
                continue
            try:
                self._step(self._link.slow)
                self._link.ok()
            except RedisTrouble as exc:
                self._link.failed(exc)
                self._resync = True
                log.warning("fleet: Redis write failed (%s); %d writes queued", exc, len(self))

    def _step(self, r: redis.Redis) -> None:
        if self._resync:
            for job in self._on_reconnect:
                job(r)
            self._resync = False
        for _ in range(_BATCH):
            if (op := self._outbox.first()) is None:
                break
            try:
                op.apply(r)
            except RedisTrouble:
                raise
            except Exception:  # a write that can never succeed must not block the rest
                log.exception("fleet: dropping a write that failed: %r", op)
            self._outbox.pop(op)
        if time.monotonic() >= self._next_tick:
            self._next_tick = time.monotonic() + self._interval_s
            for job in self._periodic:
                job(r)

    def __len__(self) -> int:
        return len(self._outbox)

    def flush(self, timeout_s: float) -> bool:
        """Wait until the queue is written (True) or `timeout_s` passes (False)."""
        deadline = time.monotonic() + timeout_s
        while len(self._outbox) and time.monotonic() < deadline:
            self._outbox.wake()
            time.sleep(0.01)
        return not len(self._outbox)

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        self._outbox.wake()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
