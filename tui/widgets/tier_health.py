"""Backend health per tier: up, circuit, queue depth and KV cache, traffic and cost."""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from appliance.admin.messages import Stats, TierStats
from tui.units import money, percent


def _state(tier: TierStats) -> Text:
    if not tier.enabled:
        return Text("off", style="dim")
    if not tier.available:
        return Text("down", style="bold red")
    return Text("up", style="green")


def _circuit(tier: TierStats) -> Text:
    return Text(tier.circuit, style="green" if tier.circuit == "closed" else "bold red")


class TierHealth(Widget):
    """Each tier's backend: up or not, circuit, queue and KV cache, traffic, price, cost."""

    stats: reactive[Stats | None] = reactive(None)

    def on_mount(self) -> None:
        self.border_title = "Tiers"

    def render(self) -> RenderableType:
        if self.stats is None:
            return Text("")
        table = Table(box=None, expand=True, padding=(0, 1, 0, 0), header_style="bold")
        for heading, justify in [
            ("tier", "left"),
            ("model", "left"),
            ("state", "left"),
            ("circuit", "left"),
            ("queue", "right"),
            ("kv", "right"),
            ("reqs", "right"),
            ("share", "right"),
            ("cost", "right"),
            ("$/1M in/out", "right"),
            ("note", "left"),
        ]:
            table.add_column(
                heading,
                justify=justify,  # type: ignore[arg-type]
                no_wrap=True,
                min_width=len(heading),
            )
        for tier in self.stats.tiers:
            table.add_row(
                tier.name,
                tier.model,
                _state(tier),
                _circuit(tier),
                "-" if tier.queue_depth is None else str(tier.queue_depth),
                "-" if tier.kv_cache_usage is None else percent(tier.kv_cache_usage),
                f"{tier.requests:,}",
                percent(tier.share),
                money(tier.cost_usd),
                f"{tier.price_input:g}/{tier.price_output:g}",
                Text(tier.reason or "", style="dim", overflow="ellipsis"),
            )
        return table
