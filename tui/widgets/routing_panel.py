"""Routing: share per tier over the last minutes, the score histogram with the cut points on
it, and escalations. It only lays out its parts and hands them the stats."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Static

from appliance.admin.messages import Stats
from tui.widgets.score_histogram import ScoreHistogram
from tui.widgets.share_sparklines import ShareSparklines


class RoutingPanel(Vertical):
    """Share of traffic per tier over the last 5 minutes, route scores against the cut
    points, and escalations."""

    stats: reactive[Stats | None] = reactive(None)

    def compose(self) -> ComposeResult:
        yield Static(id="routing-summary")
        yield ShareSparklines().data_bind(RoutingPanel.stats)
        yield ScoreHistogram().data_bind(RoutingPanel.stats)

    def on_mount(self) -> None:
        self.border_title = "Routing"

    def watch_stats(self, stats: Stats | None) -> None:
        if stats is None:
            return
        routing = stats.routing
        summary = self.query_one("#routing-summary", Static)
        if not routing.cut_points:
            summary.update("one tier: nothing to route")
            return
        cuts = " · ".join(f"{c:.2f}" for c in routing.cut_points)
        mode = (
            "shares " + "/".join(f"{s * 100:.0f}" for s in routing.target_shares) + "%"
            if routing.target_shares
            else "fixed"
        )
        summary.update(f"cuts [b]{cuts}[/b] ({mode})  escalations [b]{routing.escalations:,}[/b]")
