"""Edit the routing cut points, or target shares per tier, with a live preview of what the
new values would have done to recent traffic.

Dismisses with `(patch, summary)`, the summary being the preview sentence the operator is then
asked to confirm, or None when cancelled.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from appliance.admin.messages import ConfigPatch, LiveConfig, RequestEvent
from tui.preview import (
    check_cut_points,
    check_shares,
    cut_points_for_shares,
    is_routed,
    parse_numbers,
    preview_split,
)
from tui.screens.traffic_edit import TrafficEdit, TrafficEditScreen


class RoutingScreen(TrafficEditScreen):
    def __init__(
        self, config: LiveConfig, recent: list[RequestEvent], cut_points_now: list[float]
    ) -> None:
        super().__init__(config, recent, cut_points_now)
        self._pending: TrafficEdit | None = None

    @property
    def _by_shares(self) -> bool:
        return self.query_one("#mode-shares", RadioButton).value

    def compose(self) -> ComposeResult:
        shares = self._config.target_shares
        with Vertical(classes="dialog"):
            yield Label("Routing", classes="dialog-title")
            yield Static(
                f"tiers {' / '.join(self._names)}; in force now: cut points "
                f"{', '.join(f'{c:.3g}' for c in self._cut_points_now) or 'none'}",
                classes="dialog-body",
            )
            with RadioSet(id="routing-mode"):
                yield RadioButton("cut points", value=shares is None, id="mode-cuts")
                yield RadioButton("target shares", value=shares is not None, id="mode-shares")
            yield Input(self._initial_text(), id="routing-input")
            yield Static("", id="routing-preview", classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Preview & apply", variant="primary", id="apply")
                yield Button("Cancel", id="cancel")

    def _initial_text(self) -> str:
        if self._config.target_shares is not None:
            return ", ".join(f"{s * 100:g}%" for s in self._config.target_shares)
        values = self._config.cut_points or self._cut_points_now
        return ", ".join(f"{c:g}" for c in values)

    def on_mount(self) -> None:
        self._update_preview()

    @on(Input.Changed)
    @on(RadioSet.Changed)
    def _update_preview(self) -> None:
        preview = self.query_one("#routing-preview", Static)
        try:
            self._pending = self._edit(self.query_one("#routing-input", Input).value)
        except ValueError as exc:
            self._pending = None
            preview.set_class(True, "dialog-error")
            preview.update(str(exc))
        else:
            preview.set_class(False, "dialog-error")
            preview.update(self._pending[1])
        self.query_one("#apply", Button).disabled = self._pending is None

    def _edit(self, text: str) -> TrafficEdit:
        values = parse_numbers(text)
        n_tiers = len(self._config.tiers)
        routed = [e for e in self._recent if is_routed(e)]
        if self._by_shares:
            check_shares(values, n_tiers)
            patch = ConfigPatch(target_shares=values)
            scores = [e.score for e in routed if e.score is not None]
            cuts = cut_points_for_shares(scores, values) if scores else None
            what = "target shares " + "/".join(f"{v * 100:g}%" for v in values)
        else:
            check_cut_points(values, n_tiers)
            patch, cuts = ConfigPatch(cut_points=values), values
            what = "cut points " + ", ".join(f"{v:g}" for v in values)
        if cuts is None:
            return patch, f"{what}: no routed requests recorded yet, so there is nothing to preview"
        enabled = [t.enabled for t in self._config.tiers]
        preview = preview_split(routed, cuts, self._config.tiers, enabled=enabled)
        return patch, f"With {what}, {preview.describe(self._names)}."

    @on(Input.Submitted)
    @on(Button.Pressed, "#apply")
    def apply(self) -> None:
        if self._pending is not None:
            self.dismiss(self._pending)
