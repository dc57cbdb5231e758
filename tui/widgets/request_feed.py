"""The live request feed: one row per finished request, newest at the bottom, capped.

Rows are keyed by request id, so the backfill from `/admin/recent` and the SSE stream may
overlap without showing a request twice. The feed keeps the last `MAX_ROWS` events itself
and shows those its `filter` matches, so changing the filter never needs the daemon. While
`paused`, new events wait in a buffer of the same bound (the oldest give way, counted) and
join the feed on resume; the border's subtitle says which of these states it is in.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import DataTable

from appliance.admin.messages import RequestEvent
from tui.feed_filter import FeedFilter
from tui.units import money

MAX_ROWS = 500
COLUMNS = ("time", "client", "cache", "score", "tier", "tokens", "cost", "latency", "route")


def _cache_style(outcome: str) -> str:
    return "green" if outcome.startswith("hit") else "dim" if outcome != "miss" else ""


class RequestFeed(DataTable[str | Text]):
    """Every finished request, newest at the bottom: who asked, cache outcome, route score,
    the tier that answered, tokens, cost, latency and why it went there."""

    filter: reactive[FeedFilter] = reactive(FeedFilter, init=False)
    paused: reactive[bool] = reactive(False, init=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._events: OrderedDict[str, RequestEvent] = OrderedDict()
        self._held: OrderedDict[str, RequestEvent] = OrderedDict()
        self.dropped = 0  # held events that gave way while paused

    @property
    def held(self) -> int:
        return len(self._held)

    @property
    def kept(self) -> int:
        return len(self._events)

    def on_mount(self) -> None:
        self.border_title = "Requests"
        self.cursor_type = "row"
        for column in COLUMNS:
            self.add_column(column, key=column)

    def add_events(self, events: Iterable[RequestEvent]) -> None:
        new = [e for e in events if e.id not in self._events and e.id not in self._held]
        if self.paused:
            self._held.update((e.id, e) for e in new)
            while len(self._held) > MAX_ROWS:
                self._held.popitem(last=False)
                self.dropped += 1
        else:
            self._show(new)
        self._describe()

    def _show(self, events: list[RequestEvent]) -> None:
        # Follow the newest row while the cursor sits on it; an operator who moved the cursor
        # up to read a row keeps it.
        follow = self.cursor_row >= self.row_count - 1
        for event in events:
            self._events[event.id] = event
            if self.filter.matches(event):
                self.add_row(*self._cells(event), key=event.id)
        while len(self._events) > MAX_ROWS:
            gone, _ = self._events.popitem(last=False)
            if gone in self.rows:
                self.remove_row(gone)
        if follow and self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)

    def watch_paused(self, paused: bool) -> None:
        if not paused:
            held = list(self._held.values())
            self._held.clear()
            self.dropped = 0
            self._show(held)
        self.set_class(paused, "-paused")
        self._describe()

    def watch_filter(self) -> None:
        self.clear()
        self._show(list(self._events.values()))
        self._describe()

    def _describe(self) -> None:
        parts = []
        if self.filter:
            parts.append(f"filter: {self.filter.text} ({self.row_count} of {self.kept})")
            if self.filter.unknown:
                parts.append(f"not a key, searched as text: {', '.join(self.filter.unknown)}")
        if self.paused:
            lost = f", {self.dropped:,} older dropped" if self.dropped else ""
            parts.append(f"PAUSED: {self.held:,} new{lost}; space resumes")
        self.border_subtitle = "  ·  ".join(parts)

    @staticmethod
    def _cells(event: RequestEvent) -> list[str | Text]:
        failed = event.status != "ok"
        return [
            time.strftime("%H:%M:%S", time.localtime(event.time)),
            event.client,
            Text(event.cache, style=_cache_style(event.cache)),
            "-" if event.score is None else f"{event.score:.2f}",
            event.tier,
            f"{event.prompt_tokens}+{event.completion_tokens}",
            money(event.cost_usd),
            Text(f"{event.latency_ms:.0f} ms", style="red" if failed else ""),
            Text(
                event.route_reason if not failed else event.status,
                style="bold red" if failed else "dim",
            ),
        ]
