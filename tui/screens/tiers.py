"""Switch tiers on and off, previewing where recent traffic would go with the current cut
points. Dismisses with `(patch, summary)` for the confirmation, or None."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Label, Static

from appliance.admin.messages import ConfigPatch
from tui.preview import is_routed, preview_split
from tui.screens.traffic_edit import TrafficEditScreen


class TiersScreen(TrafficEditScreen):
    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Tiers on/off", classes="dialog-title")
            for index, tier in enumerate(self._config.tiers):
                note = "" if tier.available else " (unavailable)"
                yield Checkbox(f"{tier.name}: {tier.model}{note}", tier.enabled, id=f"tier-{index}")
            yield Static("", id="tiers-preview", classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Preview & apply", variant="primary", id="apply")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self._update_preview()

    def _enabled(self) -> list[bool]:
        return [
            self.query_one(f"#tier-{i}", Checkbox).value for i in range(len(self._config.tiers))
        ]

    def _summary(self) -> str:
        enabled = self._enabled()
        changes = [
            f"{tier.name} {'on' if on_ else 'off'}"
            for tier, on_ in zip(self._config.tiers, enabled, strict=True)
            if on_ != tier.enabled
        ]
        if not changes:
            return "no change"
        text = "Turn " + ", ".join(changes) + "."
        if not any(enabled):
            return text + " No tier would be left to answer requests."
        cuts = self._cut_points_now
        if len(cuts) == len(self._config.tiers) - 1:
            routed = [e for e in self._recent if is_routed(e)]
            preview = preview_split(routed, cuts, self._config.tiers, enabled=enabled)
            text += f" With the cut points in force, {preview.describe(self._names)}."
        return text

    @on(Checkbox.Changed)
    def _update_preview(self) -> None:
        self.query_one("#tiers-preview", Static).update(self._summary())

    @on(Button.Pressed, "#apply")
    def apply(self) -> None:
        changed = {
            tier.name: on_
            for tier, on_ in zip(self._config.tiers, self._enabled(), strict=True)
            if on_ != tier.enabled
        }
        if not changed:
            self.dismiss(None)
            return
        self.dismiss((ConfigPatch(tiers_enabled=changed), self._summary()))
