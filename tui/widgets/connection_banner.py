"""A one-line banner over the panels while the daemon cannot be reached or refuses the token;
hidden when all is well. The screen sets `message`; an empty one hides it."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Static


class ConnectionBanner(Static):
    message: reactive[str] = reactive("")

    def watch_message(self, message: str) -> None:
        self.update(message)
        self.set_class(bool(message), "-visible")
