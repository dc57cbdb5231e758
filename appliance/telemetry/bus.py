"""In-process event bus: every finished request becomes one `RequestEvent`.

It keeps a bounded ring of recent events (for `/admin/recent`, the TUI's preview and the
routing histogram) and fans events out to live subscribers (`/admin/events`). A slow
subscriber loses events rather than slowing requests: its queue is bounded and publish never
waits.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from appliance.admin.messages import RequestEvent

BUCKET_S = 10
BUCKETS = 30  # 5 minutes of per-tier series
BINS = 20


class EventBus:
    def __init__(self, keep: int = 2000, subscriber_queue: int = 1000) -> None:
        self._recent: deque[RequestEvent] = deque(maxlen=keep)
        self._subscribers: set[asyncio.Queue[RequestEvent]] = set()
        self._queue_size = subscriber_queue
        self._listeners: list[Callable[[RequestEvent], None]] = []
        self.escalations = 0
        self.total = 0

    def add_listener(self, listener: Callable[[RequestEvent], None]) -> None:
        """Synchronous listeners (metrics counters) run inside `publish`; keep them cheap."""
        self._listeners.append(listener)

    def publish(self, event: RequestEvent) -> None:
        self._recent.append(event)
        self.total += 1
        if event.attempts > 1:
            self.escalations += 1
        for listener in self._listeners:
            listener(event)
        for queue in self._subscribers:
            if queue.full():
                continue  # a stalled viewer must not hold up requests
            queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[RequestEvent]]:
        queue: asyncio.Queue[RequestEvent] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    def recent(self, limit: int = 500) -> list[RequestEvent]:
        if limit <= 0:
            return []
        return list(self._recent)[-limit:]

    def requests_per_s(self, now: float | None = None, window_s: float = 60.0) -> float:
        now = time.time() if now is None else now
        count = sum(1 for e in reversed(self._recent) if e.time >= now - window_s)
        return count / window_s

    def tier_series(self, tiers: list[str], now: float | None = None) -> dict[str, list[int]]:
        now = time.time() if now is None else now
        series = {name: [0] * BUCKETS for name in tiers}
        start = now - BUCKET_S * BUCKETS
        for event in self._recent:
            if event.time < start or event.tier not in series:
                continue
            bucket = min(int((event.time - start) // BUCKET_S), BUCKETS - 1)
            series[event.tier][bucket] += 1
        return series

    def score_histogram(self) -> list[int]:
        bins = [0] * BINS
        for event in self._recent:
            if event.score is not None:
                bins[min(int(event.score * BINS), BINS - 1)] += 1
        return bins

    def recent_scores(self) -> list[float]:
        return [e.score for e in self._recent if e.score is not None and e.cache != "hit"]
