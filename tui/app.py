"""The Textual app and its factory. `make_app(client)` builds exactly what `appliance tui` runs,
so tests drive the same app against a real daemon or against recorded stats."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from tui.api import AdminAPI
from tui.screens.main import EDIT_ACTIONS, MainScreen

STYLES = Path(__file__).parent / "styles"


class ApplianceApp(App[None]):
    TITLE = "appliance"
    CSS_PATH = [STYLES / "app.tcss", STYLES / "dialogs.tcss"]  # noqa: RUF012 - Textual's own type
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "quit")]

    def __init__(self, client: AdminAPI, *, readonly: bool, poll_interval_s: float) -> None:
        super().__init__()
        self.client = client
        self.readonly = readonly
        self.poll_interval_s = poll_interval_s

    def on_mount(self) -> None:
        self.push_screen(
            MainScreen(self.client, readonly=self.readonly, poll_interval_s=self.poll_interval_s)
        )

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The main screen's keys, in the palette too: titled by their description and
        explained by their tooltip."""
        yield from super().get_system_commands(screen)
        if not isinstance(screen, MainScreen):
            return
        for binding in screen.BINDINGS:
            if not isinstance(binding, Binding) or not binding.tooltip:
                continue
            if self.readonly and binding.action in EDIT_ACTIONS:
                continue
            title = binding.description[:1].upper() + binding.description[1:]
            yield SystemCommand(title, binding.tooltip, getattr(screen, f"action_{binding.action}"))


def make_app(
    client: AdminAPI, *, readonly: bool = False, poll_interval_s: float = 1.0
) -> ApplianceApp:
    return ApplianceApp(client, readonly=readonly, poll_interval_s=poll_interval_s)
