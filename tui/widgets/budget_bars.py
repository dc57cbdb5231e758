"""Each client's spend this month against its budget, as a bar."""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from appliance.admin.messages import Stats
from tui.units import bar, money

BAR = 16


class BudgetBars(Widget):
    """Each client's spend this month against its monthly budget, as a bar."""

    stats: reactive[Stats | None] = reactive(None)

    def on_mount(self) -> None:
        self.border_title = "Budgets (month)"

    def render(self) -> RenderableType:
        if self.stats is None:
            return Text("")
        if not self.stats.clients:
            return Text("no client keys yet: `appliance keys add NAME`", style="dim")
        table = Table(box=None, expand=True, pad_edge=False, show_header=False)
        table.add_column("client", no_wrap=True)
        table.add_column("bar", no_wrap=True)
        table.add_column("spend", justify="right", no_wrap=True)
        for client in self.stats.clients:
            if client.budget_usd:
                used = client.month_usd / client.budget_usd
                style = "red" if used >= 1 else "yellow" if used >= 0.8 else "green"
                table.add_row(
                    client.name,
                    Text(bar(used, BAR), style=style),
                    f"{money(client.month_usd)} / {money(client.budget_usd)}",
                )
            else:
                table.add_row(client.name, Text("no budget", style="dim"), money(client.month_usd))
        return table
