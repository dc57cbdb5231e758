"""Set or remove one client's monthly budget. Dismisses with the `ConfigPatch`, or None."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from appliance.admin.messages import ConfigPatch


class BudgetScreen(ModalScreen[ConfigPatch | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(self, budgets: dict[str, float | None]) -> None:
        super().__init__()
        self._budgets = budgets

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Client budget", classes="dialog-title")
            yield Select(
                [(name, name) for name in sorted(self._budgets)],
                id="budget-client",
                prompt="client",
            )
            yield Input(
                placeholder="USD per month; empty removes the budget",
                id="budget-input",
                type="number",
            )
            yield Static("", id="budget-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply", variant="primary", id="apply")
                yield Button("Cancel", id="cancel")

    @on(Select.Changed)
    def _show_current(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            current = self._budgets.get(event.value)
            self.query_one("#budget-input", Input).value = "" if current is None else f"{current:g}"

    @on(Input.Submitted)
    @on(Button.Pressed, "#apply")
    def apply(self) -> None:
        client = self.query_one("#budget-client", Select).value
        error = self.query_one("#budget-error", Static)
        if not isinstance(client, str):
            error.update("choose a client")
            return
        text = self.query_one("#budget-input", Input).value.strip()
        try:
            budget = float(text) if text else None
        except ValueError:
            budget = -1.0
        if budget is not None and budget < 0:
            error.update(f"{text!r}: a budget is a non-negative number of USD")
            return
        self.dismiss(ConfigPatch(budgets={client: budget}))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
