"""Per tier: requests per 10-second bucket over the last minutes as a sparkline, and its share."""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from appliance.admin.messages import Stats
from tui.units import percent, sparkline

TIER_COLOURS = ("green", "cyan", "magenta", "yellow", "red", "blue")


def tier_colour(index: int) -> str:
    return TIER_COLOURS[index % len(TIER_COLOURS)]


class ShareSparklines(Widget):
    # layout=True: the number of rows follows the number of tiers.
    stats: reactive[Stats | None] = reactive(None, layout=True)

    def render(self) -> RenderableType:
        if self.stats is None:
            return Text("")
        table = Table(box=None, expand=True, pad_edge=False, show_header=False)
        table.add_column("tier", no_wrap=True)
        table.add_column("spark", ratio=1, no_wrap=True)
        table.add_column("share", justify="right", no_wrap=True)
        width = max(self.size.width - 26, 8)
        series = self.stats.routing.tier_series
        for index, tier in enumerate(self.stats.tiers):
            colour = tier_colour(index) if tier.enabled else "dim"
            table.add_row(
                Text(tier.name, style=colour),
                Text(sparkline(series.get(tier.name, []), width), style=colour),
                f"{percent(tier.share)} {tier.requests:>6,}",
            )
        tiers = {tier.name for tier in self.stats.tiers}
        for name, values in series.items():  # answered without a tier, e.g. from the cache
            if name not in tiers:
                table.add_row(
                    Text(name, style="bold"), Text(sparkline(values, width)), f"{sum(values):>13,}"
                )
        return table
