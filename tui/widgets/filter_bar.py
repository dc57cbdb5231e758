"""The request feed's filter line, shown by `/`: the feed follows as you type, enter keeps
the filter, escape puts back the one from before. The screen owns what a filter does."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input


class FilterBar(Input):
    """Filter the request feed: tier:local cache:hit client:alice, or any text."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "cancel", tooltip="put back the filter from before")
    ]

    class Cancelled(Message):
        """Escape: the screen restores the filter that was there before `/`."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder="tier:local cache:hit client:alice  or any text", id=id)

    def action_cancel(self) -> None:
        self.post_message(self.Cancelled())
