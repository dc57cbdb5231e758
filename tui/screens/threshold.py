"""Edit the cache's similarity threshold (and switch the cache on or off).

Dismisses with the `ConfigPatch` to send, or None when cancelled. The range check here only
spares a round trip; the daemon's answer is the authority.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from appliance.admin.messages import ConfigPatch


class ThresholdScreen(ModalScreen[ConfigPatch | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(self, threshold: float, enabled: bool) -> None:
        super().__init__()
        self._threshold = threshold
        self._enabled = enabled

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Cache threshold", classes="dialog-title")
            yield Static(
                "Cosine similarity (0-1) at or above which a cached answer is served. Higher "
                "is stricter: fewer hits, fewer wrong ones.",
                classes="dialog-body",
            )
            yield Input(f"{self._threshold:g}", id="threshold-input", type="number")
            yield Checkbox("cache enabled", self._enabled, id="cache-enabled")
            yield Static("", id="threshold-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply", variant="primary", id="apply")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#apply")
    def apply(self) -> None:
        text = self.query_one("#threshold-input", Input).value
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not 0.0 < value <= 1.0:
            self.query_one("#threshold-error", Static).update(
                f"{text!r}: the threshold must be a number in (0, 1]"
            )
            return
        patch = ConfigPatch()
        if value != self._threshold:
            patch.cache_threshold = value
        enabled = self.query_one("#cache-enabled", Checkbox).value
        if enabled != self._enabled:
            patch.cache_enabled = enabled
        self.dismiss(patch)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
