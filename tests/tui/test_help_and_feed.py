"""`?` help generated from the bindings, `/` filter and `space` pause of the request feed, and
the daemon's version and price-table date on screen, over recorded stats (no daemon)."""

from __future__ import annotations

from typing import ClassVar

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Static

from appliance.admin.messages import RequestEvent, Stats
from tests.tui.recorded import (
    RecordedAdminClient,
    loaded,
    recorded_events,
    recorded_stats,
    shown,
)
from tui.app import ApplianceApp, make_app
from tui.screens.help import HelpScreen, keys_of, panels_of
from tui.screens.main import EDIT_ACTIONS, MainScreen
from tui.widgets.filter_bar import FilterBar
from tui.widgets.request_feed import MAX_ROWS, RequestFeed
from tui.widgets.spend_panel import SpendPanel

SIZE = (160, 48)
PANEL_TITLES = ["Spend", "Routing", "System", "Tiers", "Budgets (month)", "Requests"]


def main_screen(app: ApplianceApp) -> MainScreen:
    assert isinstance(app.screen, MainScreen), app.screen
    return app.screen


def feed_ids(app: ApplianceApp) -> list[str]:
    feed = main_screen(app).query_one(RequestFeed)
    return [str(key.value) for key in feed.rows]


# -- help ------------------------------------------------------------------------------------


@pytest.mark.parametrize("readonly", [False, True], ids=["editable", "read-only"])
async def test_help_lists_every_key_of_the_screen_and_every_panel(readonly: bool) -> None:
    app = make_app(RecordedAdminClient(), readonly=readonly)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = {key.keys: key for key in app.screen.keys}
        for binding in MainScreen.BINDINGS:
            assert isinstance(binding, Binding)
            key = keys[app.get_key_display(binding)]
            assert (key.description, key.tooltip) == (binding.description, binding.tooltip)
            # Read-only mode: the edits are listed, marked disabled; the rest still work.
            assert key.enabled == (not readonly or binding.action not in EDIT_ACTIONS)
        assert any("↑" in key.keys and not key.shown for key in app.screen.keys)  # the feed's
        assert [title for title, _ in app.screen.panels] == PANEL_TITLES
        assert all(line and "\n" not in line for _, line in app.screen.panels)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


class _Gauge(Static):
    """A toy panel.

    Only the first paragraph makes the help."""


class _Toy(Screen[None]):
    """A screen the help has never heard of."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "explode", "explode", tooltip="a key added later"),
        Binding("y,z", "why", "why", show=False),
    ]

    def compose(self) -> ComposeResult:
        panel = _Gauge("hi")
        panel.border_title = "Toy"
        yield panel


async def test_help_is_generated_from_bindings_and_docstrings() -> None:
    class ToyApp(App[None]):
        def on_mount(self) -> None:
            self.push_screen(_Toy())

    app = ToyApp()
    async with app.run_test() as pilot:
        await pilot.pause()
        keys = keys_of(app.screen)
        assert keys[0].keys == "x" and keys[0].tooltip == "a key added later" and keys[0].shown
        assert any(k.keys == "y, z" and not k.shown for k in keys)  # one line per action
        assert panels_of(app.screen) == [("Toy", "A toy panel.")]


# -- the feed: filter and pause ----------------------------------------------------------------


async def test_filter_narrows_the_feed_as_typed_and_escape_puts_back_the_old_one() -> None:
    events = recorded_events()
    app = make_app(RecordedAdminClient())
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        screen = main_screen(app)
        bar, feed = screen.query_one(FilterBar), screen.query_one(RequestFeed)
        assert not bar.display and feed.has_focus

        await pilot.press("slash")
        assert bar.display and bar.has_focus
        await pilot.press(*"tier:local")
        await pilot.pause()
        local = [e.id for e in events if e.tier == "local"]
        assert feed_ids(app) == local  # live, before enter
        assert str(feed.border_subtitle) == f"filter: tier:local ({len(local)} of {len(events)})"
        await pilot.press("enter")
        await pilot.pause()
        assert not bar.display and feed.has_focus and feed_ids(app) == local

        # Space and ? typed into the filter are text, not pause or help.
        await pilot.press("slash", "ctrl+u", *"client:notebooks cache:hit", "space", "?")
        await pilot.pause()
        assert not feed.paused and isinstance(app.screen, MainScreen)
        assert bar.value == "client:notebooks cache:hit ?"
        await pilot.press("escape")
        await pilot.pause()
        assert not bar.display and feed.filter.text == "tier:local"
        assert feed_ids(app) == local

        await pilot.press("slash", "ctrl+u", "enter")  # an empty filter shows everything
        await pilot.pause()
        assert feed_ids(app) == [e.id for e in events] and not feed.border_subtitle


async def test_space_pauses_the_feed_and_resume_shows_what_came_meanwhile() -> None:
    client = RecordedAdminClient()
    app = make_app(client)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        feed = main_screen(app).query_one(RequestFeed)
        before = feed_ids(app)
        await pilot.press("space")
        newer = recorded_events(3, start=40)
        client.send(*newer)
        await pilot.pause(0.2)
        assert feed.paused and feed_ids(app) == before
        assert str(feed.border_subtitle) == "PAUSED: 3 new; space resumes"
        assert feed.has_class("-paused")

        await pilot.press("space")
        await pilot.pause()
        assert not feed.paused and not feed.border_subtitle
        assert feed_ids(app) == before + [e.id for e in newer]
        assert feed.cursor_row == feed.row_count - 1  # following the newest row again


async def test_a_long_pause_keeps_a_bounded_buffer_and_counts_what_it_dropped() -> None:
    app = make_app(RecordedAdminClient(events=[]))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        feed = main_screen(app).query_one(RequestFeed)
        feed.paused = True
        flood: list[RequestEvent] = recorded_events(MAX_ROWS + 25, start=1000)
        feed.add_events(flood)
        assert (feed.held, feed.dropped, feed.row_count) == (MAX_ROWS, 25, 0)
        assert "PAUSED: 500 new, 25 older dropped" in str(feed.border_subtitle)
        feed.paused = False
        await pilot.pause()
        assert feed.row_count == MAX_ROWS == feed.kept
        assert feed_ids(app)[0] == flood[25].id and feed_ids(app)[-1] == flood[-1].id


# -- what the daemon says about itself ----------------------------------------------------------


async def test_header_has_the_daemon_version_and_spend_the_price_date() -> None:
    app = make_app(RecordedAdminClient(recorded_stats(prices_date="2025-12-01")))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert main_screen(app).title == "appliance 0.1.0"
        spend = shown(main_screen(app).query_one(SpendPanel))
        # The recorded stats are from 2026-01-01: the table is 31 days old, not stale.
        assert "prices dated 2025-12-01 (31 days old)" in spend


async def test_a_stale_price_table_is_called_out() -> None:
    stats = recorded_stats(prices_date="2025-09-01", prices_stale=True)
    app = make_app(RecordedAdminClient(stats))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        spend = shown(main_screen(app).query_one(SpendPanel))
        assert "prices dated 2025-09-01: 122 days old!\nrun `appliance prices update`" in spend


async def test_an_older_daemon_without_those_fields_shows_neither() -> None:
    plain = recorded_stats()
    newer = ("version", "prices_date", "prices_stale")
    fields = {n: getattr(plain, n) for n in Stats.__struct_fields__ if n not in newer}
    app = make_app(RecordedAdminClient(Stats(**fields)))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert main_screen(app).title == "appliance"
        assert "prices" not in shown(main_screen(app).query_one(SpendPanel))
