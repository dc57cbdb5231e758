"""Spend today / this month against the all-frontier baseline: the before/after table, live."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from appliance.admin.messages import Stats
from tui.daemon_info import fleet_totals_line, prices_line
from tui.units import money, percent


class SpendPanel(Widget):
    """Spend today, this month and projected against the all-frontier baseline, cache hit
    rate, the date of the price table it is priced with, and in a fleet the fleet's spend."""

    stats: reactive[Stats | None] = reactive(None)

    def on_mount(self) -> None:
        self.border_title = "Spend"

    def render(self) -> RenderableType:
        if self.stats is None:
            return Text("waiting for the daemon…", style="dim")
        spend, cache = self.stats.spend, self.stats.cache
        table = Table(box=None, expand=True, pad_edge=False, header_style="bold")
        table.add_column("")
        for heading in ("today", "month", "projected"):
            table.add_column(heading, justify="right")
        projected_saved = spend.projected_baseline_usd - spend.projected_month_usd
        projected_pct = (
            projected_saved / spend.projected_baseline_usd if spend.projected_baseline_usd else 0.0
        )
        table.add_row(
            "actual",
            money(spend.today.cost_usd),
            money(spend.month.cost_usd),
            money(spend.projected_month_usd),
        )
        table.add_row(
            "baseline",
            money(spend.today.baseline_usd),
            money(spend.month.baseline_usd),
            money(spend.projected_baseline_usd),
        )
        table.add_row(
            Text("saved", style="green"),
            Text(money(spend.today.savings_usd), style="green"),
            Text(money(spend.month.savings_usd), style="green"),
            Text(money(projected_saved), style="green"),
        )
        table.add_row(
            Text("saved %", style="green bold"),
            Text(percent(spend.today.savings_pct / 100), style="green bold"),
            Text(percent(spend.month.savings_pct / 100), style="green bold"),
            Text(percent(projected_pct), style="green bold"),
        )
        table.add_row("requests", f"{spend.today.requests:,}", f"{spend.month.requests:,}", "")
        lookups = cache.hits + cache.misses
        cache_line = (
            f"cache hit {percent(cache.hit_rate)} ({cache.hits:,}/{lookups:,})  "
            f"threshold {cache.threshold:.2f}  {cache.entries:,} entries"
            if cache.enabled
            else "cache off"
        )
        lines = Text.assemble(
            (f"{self.stats.requests_per_s:.1f} req/s", "bold"),
            f"   latency avg {self.stats.latency_ms_avg:.0f} ms\n",
            cache_line,
        )
        if spend.server_monthly_usd:
            lines.append(f"\nserver {money(spend.server_monthly_usd)}/month, not counted above")
        prices, stale = prices_line(self.stats)
        if prices:
            lines.append("\n" + prices, style="bold yellow" if stale else "dim")
        if fleet := fleet_totals_line(self.stats):
            lines.append("\n" + fleet, style="bold")
        return Group(table, Text(""), lines)
