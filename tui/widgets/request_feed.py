"""The live request feed: one row per finished request, newest at the bottom, capped.

Rows are keyed by request id, so the backfill from `/admin/recent` and the SSE stream may
overlap without showing a request twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from rich.text import Text
from textual.widgets import DataTable

from appliance.admin.messages import RequestEvent
from tui.units import money

MAX_ROWS = 500
COLUMNS = ("time", "client", "cache", "score", "tier", "tokens", "cost", "latency", "route")


def _cache_style(outcome: str) -> str:
    return "green" if outcome.startswith("hit") else "dim" if outcome != "miss" else ""


class RequestFeed(DataTable[str | Text]):
    def on_mount(self) -> None:
        self.border_title = "Requests"
        self.cursor_type = "row"
        for column in COLUMNS:
            self.add_column(column, key=column)

    def add_events(self, events: Iterable[RequestEvent]) -> None:
        # Follow the newest row while the cursor sits on it; an operator who moved the cursor
        # up to read a row keeps it.
        follow = self.cursor_row >= self.row_count - 1
        for event in events:
            if event.id in self.rows:
                continue
            self.add_row(*self._cells(event), key=event.id)
        while self.row_count > MAX_ROWS:
            self.remove_row(next(iter(self.rows)))
        if follow and self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)

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
