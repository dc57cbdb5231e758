"""Edit the cache: the similarity threshold, the verifier's bar when there is one, on or off;
and see the latest answers clients flagged as wrong (`POST /admin/cache/feedback`).

Dismisses with the `ConfigPatch` to send, or None when cancelled. The range checks here only
spare a round trip; the daemon's answer is the authority.
"""

from __future__ import annotations

import time
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from appliance.admin.messages import ConfigPatch, FlaggedEntry, LiveConfig


class ThresholdScreen(ModalScreen[ConfigPatch | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(
        self,
        config: LiveConfig,
        flagged: list[FlaggedEntry] | None = None,
        now: float | None = None,
    ) -> None:
        super().__init__()
        self._config = config
        self._flagged = flagged or []
        self._now = now  # the daemon's clock (its stats), so ages are as the daemon sees them

    def compose(self) -> ComposeResult:
        config = self._config
        with Vertical(classes="dialog"):
            yield Label("Cache", classes="dialog-title")
            yield Static(
                "Similarity threshold: cosine (0-1) a cached question must reach. Higher is "
                "stricter: fewer hits, fewer wrong ones.",
                classes="dialog-body",
            )
            yield Input(f"{config.cache_threshold:g}", id="threshold-input", type="number")
            if config.cache_verifier_threshold is not None:
                yield Static(
                    "Verifier bar: probability (0-1) that the cached question asks the same "
                    "thing, above which its answer is served.",
                    classes="dialog-body",
                )
                yield Input(
                    f"{config.cache_verifier_threshold:g}", id="verifier-input", type="number"
                )
            yield Checkbox("cache enabled", config.cache_enabled, id="cache-enabled")
            yield Static("", id="threshold-error", classes="dialog-error")
            yield Static(
                flagged_text(self._flagged, self._now), id="flagged", classes="dialog-body"
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply", variant="primary", id="apply")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#apply")
    def apply(self) -> None:
        try:
            threshold = self._read("#threshold-input", "threshold")
            verifier = (
                self._read("#verifier-input", "verifier bar")
                if self._config.cache_verifier_threshold is not None
                else None
            )
        except ValueError as exc:
            self.query_one("#threshold-error", Static).update(str(exc))
            return
        patch = ConfigPatch()
        if threshold != self._config.cache_threshold:
            patch.cache_threshold = threshold
        if verifier is not None and verifier != self._config.cache_verifier_threshold:
            patch.cache_verifier_threshold = verifier
        enabled = self.query_one("#cache-enabled", Checkbox).value
        if enabled != self._config.cache_enabled:
            patch.cache_enabled = enabled
        self.dismiss(patch)

    def _read(self, selector: str, what: str) -> float:
        text = self.query_one(selector, Input).value
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not 0.0 < value <= 1.0:
            raise ValueError(f"{text!r}: the {what} must be a number in (0, 1]")
        return value

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def flagged_text(flagged: list[FlaggedEntry], now: float | None = None) -> str:
    """The latest entries clients flagged wrong, one line each; prompts only when the daemon
    logs them (`security.log_prompts_in_events`), else the entry id."""
    if not flagged:
        return "No answers flagged wrong by clients."
    now = time.time() if now is None else now
    lines = ["Flagged wrong by clients (latest first):"]
    for entry in flagged:
        age = max(now - entry.time, 0.0)
        when = f"{age / 60:.0f} min ago" if age < 3600 else f"{age / 3600:.0f} h ago"
        what = entry.text[:40] if entry.text else f"entry {entry.entry[:12]}"
        state = "dropped" if entry.dropped else f"bar now {entry.bar:.2f}"
        lines.append(f"  {when:>10}  ×{entry.flags}  {state:<12} {what}")
    return "\n".join(lines)
