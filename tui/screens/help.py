"""`?`: every key that works right now, what it does, and what each panel shows.

Nothing here is written by hand: the keys come from the screen's active bindings (app,
screen and focused widget, as Textual resolves them, with their descriptions and tooltips,
dimmed where the screen disables them, as in read-only mode), and each panel's line is the
first sentence of its class docstring. A new binding or panel appears here by itself.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Label, Static

from tui.feed_filter import SYNTAX


@dataclass(frozen=True)
class KeyHelp:
    keys: str
    description: str
    tooltip: str
    where: str
    enabled: bool
    shown: bool  # in the footer; the others are listed more briefly


def keys_of(screen: Screen[Any]) -> list[KeyHelp]:
    """The screen's active bindings, one line per action (its keys joined), screen first,
    then the focused widget's, then the app's. Bindings without a description are skipped."""
    found: dict[tuple[int, str], tuple[int, list[str], KeyHelp]] = {}
    for active in screen.active_bindings.values():
        binding = active.binding
        if not binding.description or binding.system:
            continue
        ident = (id(active.node), binding.action)
        if ident not in found:
            rank, where = _place(active.node, screen)
            tooltip = active.tooltip or binding.tooltip
            key = KeyHelp("", binding.description, tooltip, where, active.enabled, binding.show)
            found[ident] = (rank, [], key)
        rank, keys, key = found[ident]
        keys.append(screen.app.get_key_display(binding))
        if binding.show and not key.shown:  # `q quit` is in the footer, `ctrl+q` is not
            found[ident] = (rank, keys, dataclasses.replace(key, shown=True))
    # Stable: the bindings' own order within a place, footer keys first.
    ordered = sorted(found.values(), key=lambda entry: (entry[0], not entry[2].shown))
    return [dataclasses.replace(key, keys=", ".join(keys)) for _, keys, key in ordered]


def _place(node: object, screen: Screen[Any]) -> tuple[int, str]:
    if node is screen:
        return 0, "this screen"
    if isinstance(node, App):
        return 2, "anywhere"
    title = getattr(node, "border_title", None) or type(node).__name__
    return 1, f"{title} (focused)"


def panels_of(screen: Screen[Any]) -> list[tuple[str, str]]:
    """(title, one line) for each bordered panel, from its class docstring."""
    out = []
    for widget in screen.query(Widget):
        if widget.border_title:
            doc = inspect.getdoc(type(widget)) or ""
            out.append((str(widget.border_title), " ".join(doc.split("\n\n")[0].split())))
    return out


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", "close", tooltip="back to the panel")
    ]

    def __init__(self, keys: list[KeyHelp], panels: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys
        self.panels = panels

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Label("Keys and panels", classes="dialog-title")
            with VerticalScroll():
                yield Static(self._keys_table(), id="help-keys")
                yield Static(self._panels_table(), id="help-panels")
                yield Static(Text.assemble(("Feed filter (/)\n", "bold"), SYNTAX), id="help-filter")
            yield Label("escape, ? or q closes", classes="help-hint")

    def _keys_table(self) -> Table:
        """One row per footer key; the rest of each place's keys (cursor movement, focus)
        share one wrapped row, so the whole screen fits without scrolling."""
        table = Table(box=None, expand=True, pad_edge=False, header_style="bold")
        for heading in ("key", "does", "where"):
            table.add_column(heading, no_wrap=heading != "does")
        places = list(dict.fromkeys(key.where for key in self.keys))
        for where in places:
            here = [key for key in self.keys if key.where == where]
            for key in (k for k in here if k.shown):
                does = key.description + (f": {key.tooltip}" if key.tooltip else "")
                if not key.enabled:
                    does += " (disabled here)"
                style = "" if key.enabled else "dim"
                table.add_row(Text(key.keys, style=style or "bold"), Text(does, style), where)
            more = [f"{k.keys} {k.description.lower()}" for k in here if not k.shown]
            if more:
                table.add_row(Text("also", style="dim"), Text("  ·  ".join(more), "dim"), where)
        return table

    def _panels_table(self) -> Table:
        table = Table(box=None, expand=True, pad_edge=False, header_style="bold")
        table.add_column("panel", no_wrap=True)
        table.add_column("shows")
        for title, line in self.panels:
            table.add_row(Text(title, style="bold"), line)
        return table

    def action_close(self) -> None:
        self.dismiss(None)
