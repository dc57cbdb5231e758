"""The operator's daily view: every panel, the refresh workers, and the edit actions.

Two workers do all I/O so input never waits on the network: one polls `/admin/stats` every
`poll_interval_s` and hands the result down to the panels through the `stats` reactive; the
other backfills the feed from `/admin/recent` and then follows `/admin/events`. Both retry with
backoff; the stats poller owns the banner that says why the numbers have stopped moving.

Edits fetch the live config, open a modal, confirm changes that move traffic (with the
preview), and send one `PATCH /admin/config`. In read-only mode none of them runs; help (`?`),
the feed's filter (`/`) and pause (`space`) only change what this screen shows, so they do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import ClassVar, TypeVar

import msgspec
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Header

from appliance.admin.client import AdminError, AdminUnreachable
from appliance.admin.messages import (
    ConfigPatch,
    InvalidateRequest,
    LiveConfig,
    RequestEvent,
    Stats,
)
from tui.api import AdminAPI
from tui.daemon_info import daemon_version
from tui.feed_filter import FeedFilter
from tui.screens.budget import BudgetScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.help import HelpScreen, keys_of, panels_of
from tui.screens.routing import RoutingScreen
from tui.screens.threshold import ThresholdScreen
from tui.screens.tiers import TiersScreen
from tui.screens.traffic_edit import TrafficEditScreen
from tui.widgets.budget_bars import BudgetBars
from tui.widgets.connection_banner import ConnectionBanner
from tui.widgets.filter_bar import FilterBar
from tui.widgets.request_feed import MAX_ROWS, RequestFeed
from tui.widgets.routing_panel import RoutingPanel
from tui.widgets.spend_panel import SpendPanel
from tui.widgets.system_panel import SystemPanel
from tui.widgets.tier_health import TierHealth

T = TypeVar("T")
MAX_BACKOFF_S = 30.0
RECENT_FOR_PREVIEW = 500
FLAGGED_SHOWN = 5  # the cache dialog's list of answers users said were wrong
EDIT_ACTIONS = frozenset({"edit_threshold", "edit_routing", "edit_tiers", "edit_budget", "flush"})


def problem_text(exc: Exception, url: str) -> str:
    """What the banner says; never the token itself."""
    if isinstance(exc, AdminUnreachable):
        return f"daemon unreachable at {url} — retrying"
    if isinstance(exc, AdminError) and exc.status in (401, 403):
        return (
            f"the daemon at {url} refused the admin token (HTTP {exc.status}): pass "
            "--admin-token-file <state_dir>/admin_token or set $APPLIANCE_ADMIN_TOKEN — retrying"
        )
    if isinstance(exc, AdminError):
        return f"daemon error at {url}: {exc} — retrying"
    raise exc


class MainScreen(Screen[None]):
    # The footer shows the descriptions; the help screen (?) and the command palette add the
    # tooltips. One list, so the three never disagree.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "help", tooltip="keys and panels, explained"),
        Binding(
            "t",
            "edit_threshold",
            "cache",
            tooltip="cache thresholds, verifier, on/off; answers users flagged wrong",
        ),
        Binding(
            "c",
            "edit_routing",
            "routing",
            tooltip="quality target, cut points or shares, with a preview",
        ),
        Binding("o", "edit_tiers", "tiers on/off", tooltip="switch tiers, with a preview"),
        Binding("b", "edit_budget", "budgets", tooltip="set or remove a client's budget"),
        Binding("f", "flush", "flush cache", tooltip="drop every cached answer"),
        Binding("r", "refresh", "refresh", tooltip="poll the daemon now, reconnect the feed"),
        Binding("slash", "filter_feed", "filter", tooltip="filter the requests: tier:local …"),
        Binding("space", "toggle_pause", "pause", tooltip="pause or resume the request feed"),
    ]

    AUTO_FOCUS = "#feed"  # not the hidden filter bar, which comes first in the layout
    stats: reactive[Stats | None] = reactive(None)

    def __init__(self, client: AdminAPI, *, readonly: bool, poll_interval_s: float) -> None:
        super().__init__()
        self.client = client
        self.readonly = readonly
        self.poll_interval_s = poll_interval_s
        self._filter_before = FeedFilter()  # what escape in the filter bar puts back

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBanner(id="banner")
        with Horizontal(id="top-row"):
            yield SpendPanel(id="spend").data_bind(MainScreen.stats)
            yield RoutingPanel(id="routing").data_bind(MainScreen.stats)
            yield SystemPanel(id="system").data_bind(MainScreen.stats)
        with Horizontal(id="middle-row"):
            yield TierHealth(id="tiers").data_bind(MainScreen.stats)
            yield BudgetBars(id="budgets").data_bind(MainScreen.stats)
        yield FilterBar(id="feed-filter")
        yield RequestFeed(id="feed")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.client.url + ("  ·  READ-ONLY" if self.readonly else "")
        self.poll_stats()
        self.follow_events()

    def watch_stats(self, stats: Stats | None) -> None:
        version = daemon_version(stats) if stats is not None else ""
        self.title = f"{self.app.title} {version}" if version else self.app.title

    # -- workers: all I/O ----------------------------------------------------------------

    def _show_problem(self, exc: Exception | None) -> None:
        banners = self.query(ConnectionBanner)
        if not banners:
            return  # the screen is closing; a late worker result has nowhere to go
        banner = banners.first()
        banner.message = "" if exc is None else problem_text(exc, self.client.url)

    @work(exclusive=True, group="stats")
    async def poll_stats(self) -> None:
        backoff = self.poll_interval_s
        while True:
            try:
                self.stats = await self.client.stats()
            except (AdminUnreachable, AdminError) as exc:
                self._show_problem(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            self._show_problem(None)
            backoff = self.poll_interval_s
            await asyncio.sleep(self.poll_interval_s)

    @work(exclusive=True, group="events")
    async def follow_events(self) -> None:
        feed = self.query_one(RequestFeed)
        backoff = 1.0
        while True:
            try:
                feed.add_events(await self.client.recent(MAX_ROWS))
                async for event in self.client.events():
                    feed.add_events([event])
                    backoff = 1.0
            except (AdminUnreachable, AdminError):
                pass  # the stats poller shows why; just come back later
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    # -- help and the feed -----------------------------------------------------------------

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(keys_of(self), panels_of(self)))

    def action_toggle_pause(self) -> None:
        feed = self.query_one(RequestFeed)
        feed.paused = not feed.paused

    def action_filter_feed(self) -> None:
        bar = self.query_one(FilterBar)
        self._filter_before = self.query_one(RequestFeed).filter
        bar.value = self._filter_before.text
        bar.display = True
        bar.focus()

    @on(FilterBar.Changed)
    def _filter_typed(self, event: FilterBar.Changed) -> None:
        self.query_one(RequestFeed).filter = FeedFilter.parse(event.value)

    @on(FilterBar.Submitted)
    def _filter_kept(self) -> None:
        self._close_filter()

    @on(FilterBar.Cancelled)
    def _filter_cancelled(self) -> None:
        self.query_one(RequestFeed).filter = self._filter_before
        self._close_filter()

    def _close_filter(self) -> None:
        self.query_one(FilterBar).display = False
        self.query_one(RequestFeed).focus()

    # -- edits ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.readonly and action in EDIT_ACTIONS:
            return None  # shown dimmed in the footer, never run
        return True

    def _refused(self) -> bool:
        if self.readonly:
            self.notify("read-only mode: changes are disabled", severity="warning")
        return self.readonly

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T | None:
        try:
            return await call()
        except (AdminUnreachable, AdminError) as exc:
            message = exc.message if isinstance(exc, AdminError) else str(exc)
            self.notify(f"{what} failed: {message}", severity="error", timeout=8)
            return None

    async def _apply(self, patch: ConfigPatch, done: str) -> LiveConfig | None:
        if self._refused():
            return None
        config = await self._call("change", lambda: self.client.patch_config(patch))
        if config is not None:
            self.notify(done)
            self.poll_stats()  # show the effect now rather than at the next tick
        return config

    def action_refresh(self) -> None:
        self.poll_stats()
        self.follow_events()

    def action_edit_threshold(self) -> None:
        if not self._refused():
            self._edit_threshold()

    @work(exclusive=True, group="edit")
    async def _edit_threshold(self) -> None:
        config = await self._call("reading the config", self.client.config)
        if config is None:
            return
        # The flagged list is a help, not a requirement: an older daemon has none.
        try:
            flagged = await self.client.cache_flagged(FLAGGED_SHOWN)
        except (AdminUnreachable, AdminError):
            flagged = []
        patch = await self.app.push_screen_wait(
            ThresholdScreen(config, flagged, self.stats.time if self.stats else None)
        )
        if patch is not None and has_changes(patch):
            await self._apply(patch, "cache settings updated")

    def action_edit_routing(self) -> None:
        if not self._refused():
            self._edit_routing()

    @work(exclusive=True, group="edit")
    async def _edit_routing(self) -> None:
        def screen(
            config: LiveConfig, recent: list[RequestEvent], cuts: list[float]
        ) -> RoutingScreen:
            return RoutingScreen(config, recent, cuts, self.client.routing_preview)

        await self._edit_with_preview(screen, "Change routing?", "routing updated")

    def action_edit_tiers(self) -> None:
        if not self._refused():
            self._edit_tiers()

    @work(exclusive=True, group="edit")
    async def _edit_tiers(self) -> None:
        await self._edit_with_preview(TiersScreen, "Switch tiers?", "tiers updated")

    async def _edit_with_preview(
        self,
        screen: Callable[[LiveConfig, list[RequestEvent], list[float]], TrafficEditScreen],
        question: str,
        done: str,
    ) -> None:
        """Edits that move traffic: show the preview over recent requests, then confirm."""
        config = await self._call("reading the config", self.client.config)
        recent = await self._call(
            "reading recent requests", lambda: self.client.recent(RECENT_FOR_PREVIEW)
        )
        if config is None or recent is None:
            return
        cuts = self.stats.routing.cut_points if self.stats else config.cut_points
        edit = await self.app.push_screen_wait(screen(config, recent, cuts))
        if edit is None:
            return
        patch, summary = edit
        if await self.app.push_screen_wait(ConfirmScreen(question, summary)):
            await self._apply(patch, done)

    def action_edit_budget(self) -> None:
        if not self._refused():
            self._edit_budget()

    @work(exclusive=True, group="edit")
    async def _edit_budget(self) -> None:
        config = await self._call("reading the config", self.client.config)
        if config is None:
            return
        known = {c.name: c.budget_usd for c in self.stats.clients} if self.stats else {}
        patch = await self.app.push_screen_wait(BudgetScreen({**known, **config.budgets}))
        if patch is not None:
            await self._apply(patch, "budget updated")

    def action_flush(self) -> None:
        if not self._refused():
            self._flush()

    @work(exclusive=True, group="edit")
    async def _flush(self) -> None:
        entries = self.stats.cache.entries if self.stats else 0
        body = (
            f"Drop all {entries:,} cached answers? Until the cache refills, every request "
            "goes to a model and is paid for."
        )
        if not await self.app.push_screen_wait(ConfirmScreen("Flush the cache?", body)):
            return
        if self._refused():
            return
        result = await self._call(
            "flush", lambda: self.client.invalidate(InvalidateRequest(all=True))
        )
        if result is not None:
            self.notify(f"cache flushed: {result.removed:,} entries removed")
            self.poll_stats()


def has_changes(patch: ConfigPatch) -> bool:
    """Whether the patch changes anything (an all-UNSET patch is not worth a request)."""
    return msgspec.json.encode(patch) != b"{}"
