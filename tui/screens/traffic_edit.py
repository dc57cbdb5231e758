"""The base of the two dialogs that move traffic (routing, tiers on/off): both preview recent
requests under the change and dismiss with `(patch, summary)` for the confirmation, or None."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Button

from appliance.admin.messages import ConfigPatch, LiveConfig, RequestEvent

TrafficEdit = tuple[ConfigPatch, str]


class TrafficEditScreen(ModalScreen[TrafficEdit | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(
        self, config: LiveConfig, recent: list[RequestEvent], cut_points_now: list[float]
    ) -> None:
        super().__init__()
        self._config = config
        self._recent = recent
        self._cut_points_now = cut_points_now

    @property
    def _names(self) -> list[str]:
        return [t.name for t in self._config.tiers]

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
