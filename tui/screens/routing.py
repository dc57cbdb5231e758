"""Edit how `auto` traffic is split: a quality target (the default), cut points, or target
shares per tier, with a live preview of what the new values would have done to recent traffic.

A quality target is turned into cut points by the daemon (the router model's calibration
curve lives there), so its preview is one admin call per edit; the other two are previewed
here. Dismisses with `(patch, summary)`, the summary being the preview sentence the operator
is then asked to confirm, or None when cancelled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from appliance.admin.client import AdminError, AdminUnreachable
from appliance.admin.messages import ConfigPatch, LiveConfig, RequestEvent, RoutingPreview
from tui.preview import (
    check_cut_points,
    check_quality_target,
    check_shares,
    cut_points_for_shares,
    describe_expected,
    is_routed,
    parse_numbers,
    preview_split,
)
from tui.screens.traffic_edit import TrafficEdit, TrafficEditScreen

AskExpected = Callable[[float], Awaitable[RoutingPreview | None]]
# Points of the router's quality/cost curve shown beside the quality-target box.
CURVE_TARGETS = (0.90, 0.925, 0.95, 0.975, 0.99)


class RoutingScreen(TrafficEditScreen):
    def __init__(
        self,
        config: LiveConfig,
        recent: list[RequestEvent],
        cut_points_now: list[float],
        ask_expected: AskExpected | None = None,
    ) -> None:
        super().__init__(config, recent, cut_points_now)
        self._pending: TrafficEdit | None = None
        self._ask_expected = ask_expected

    def _mode(self) -> str:
        pressed = self.query_one("#routing-mode", RadioSet).pressed_button
        return (pressed.id or "mode-cuts").removeprefix("mode-") if pressed else "cuts"

    def compose(self) -> ComposeResult:
        mode = self._initial_mode()
        with Vertical(classes="dialog"):
            yield Label("Routing", classes="dialog-title")
            yield Static(
                f"tiers {' / '.join(self._names)}; in force now: cut points "
                f"{', '.join(f'{c:.3g}' for c in self._cut_points_now) or 'none'}",
                classes="dialog-body",
            )
            with RadioSet(id="routing-mode"):
                if self._ask_expected is not None:
                    yield RadioButton("quality target", value=mode == "quality", id="mode-quality")
                yield RadioButton("cut points", value=mode == "cuts", id="mode-cuts")
                yield RadioButton("target shares", value=mode == "shares", id="mode-shares")
            yield Input(self._text_for(mode), id="routing-input")
            yield Static("", id="routing-preview", classes="dialog-body")
            if self._ask_expected is not None:
                yield Static("", id="routing-curve", classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Preview & apply", variant="primary", id="apply")
                yield Button("Cancel", id="cancel")

    def _initial_mode(self) -> str:
        if self._config.target_shares is not None:
            return "shares"
        if self._config.quality_target is not None and self._ask_expected is not None:
            return "quality"
        return "cuts"

    def _text_for(self, mode: str) -> str:
        if mode == "quality":
            return f"{(self._config.quality_target or 0.95) * 100:g}%"
        if mode == "shares":
            return ", ".join(f"{s * 100:g}%" for s in self._config.target_shares or [])
        values = self._config.cut_points or self._cut_points_now
        return ", ".join(f"{c:g}" for c in values)

    def on_mount(self) -> None:
        self._update_preview()
        if self._ask_expected is not None:
            self._show_curve()

    @work(group="routing-curve")
    async def _show_curve(self) -> None:
        """The curve as a few operating points, the one in force marked."""
        assert self._ask_expected is not None
        points: list[tuple[float, RoutingPreview]] = []
        targets = set(CURVE_TARGETS)
        if self._config.quality_target is not None:
            targets.add(self._config.quality_target)
        try:
            for target in sorted(targets):
                expected = await self._ask_expected(target)
                if expected is None:
                    return
                points.append((target, expected))
        except (AdminError, AdminUnreachable):
            return  # the preview line already says what went wrong
        self.query_one("#routing-curve", Static).update(
            curve_table(points, self._config.quality_target)
        )

    @on(RadioSet.Changed)
    def _mode_changed(self) -> None:
        # Each mode speaks its own units; keep the box meaningful for the one just chosen.
        self.query_one("#routing-input", Input).value = self._text_for(self._mode())

    @on(Input.Changed)
    def _update_preview(self) -> None:
        text = self.query_one("#routing-input", Input).value
        if self._mode() == "quality":
            self._show(None, "asking the daemon…", error=False)
            self._preview_quality(text)
            return
        try:
            edit = self._edit(text)
        except ValueError as exc:
            self._show(None, str(exc), error=True)
        else:
            self._show(edit, edit[1], error=False)

    def _show(self, edit: TrafficEdit | None, text: str, *, error: bool) -> None:
        self._pending = edit
        preview = self.query_one("#routing-preview", Static)
        preview.set_class(error, "dialog-error")
        preview.update(text)
        self.query_one("#apply", Button).disabled = edit is None

    @work(exclusive=True, group="routing-preview")
    async def _preview_quality(self, text: str) -> None:
        assert self._ask_expected is not None
        try:
            target = check_quality_target(parse_numbers(text))
            expected = await self._ask_expected(target)
        except ValueError as exc:
            self._show(None, str(exc), error=True)
            return
        except (AdminError, AdminUnreachable) as exc:
            message = exc.message if isinstance(exc, AdminError) else str(exc)
            self._show(None, f"the daemon could not preview it: {message}", error=True)
            return
        if expected is None:
            self._show(None, "a single tier: there is nothing to route", error=True)
            return
        sentence = f"Quality target {target * 100:g}%: {describe_expected(expected)}"
        recent = self._recent_split(expected.cut_points)
        if recent:
            sentence += f"; {recent}"
        self._show(
            (ConfigPatch(quality_target=target), sentence + "."), sentence + ".", error=False
        )

    def _recent_split(self, cuts: list[float]) -> str:
        routed = [e for e in self._recent if is_routed(e)]
        if not routed:
            return ""
        enabled = [t.enabled for t in self._config.tiers]
        return preview_split(routed, cuts, self._config.tiers, enabled=enabled).describe(
            self._names
        )

    def _edit(self, text: str) -> TrafficEdit:
        values = parse_numbers(text)
        n_tiers = len(self._config.tiers)
        if self._mode() == "shares":
            check_shares(values, n_tiers)
            patch = ConfigPatch(target_shares=values)
            scores = [e.score for e in self._recent if is_routed(e) and e.score is not None]
            cuts = cut_points_for_shares(scores, values) if scores else None
            what = "target shares " + "/".join(f"{v * 100:g}%" for v in values)
        else:
            check_cut_points(values, n_tiers)
            patch, cuts = ConfigPatch(cut_points=values), values
            what = "cut points " + ", ".join(f"{v:g}" for v in values)
        recent = self._recent_split(cuts) if cuts is not None else ""
        if not recent:
            return patch, f"{what}: no routed requests recorded yet, so there is nothing to preview"
        return patch, f"With {what}, {recent}."

    @on(Input.Submitted)
    @on(Button.Pressed, "#apply")
    def apply(self) -> None:
        if self._pending is not None:
            self.dismiss(self._pending)


def curve_table(points: list[tuple[float, RoutingPreview]], in_force: float | None) -> str:
    """Target, cut points, traffic split, quality and cost for each point of the curve."""
    lines = ["The router's curve (held-out data):", "  target  cut points    traffic         cost"]
    for target, expected in points:
        cuts = ", ".join(f"{c:.3f}" for c in expected.cut_points)
        shares = "/".join(f"{s:.0%}" for s in expected.tier_shares)
        mark = "  ◀ in force" if in_force is not None and abs(in_force - target) < 1e-9 else ""
        lines.append(
            f"  {target * 100:>5.1f}%  {cuts:<12}  {shares:<14}  {expected.cost_share:>4.0%}{mark}"
        )
    return "\n".join(lines)
