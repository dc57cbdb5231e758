"""Snapshots of the control panel over recorded, deterministic data (`RecordedAdminClient`).

Review the SVGs in `tests/tui/__snapshots__/` when they change; accept with `--snapshot-update`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import msgspec
import pytest
from textual.pilot import Pilot

from appliance.admin.client import AdminError, AdminUnreachable
from appliance.admin.messages import Stats
from tests.tui.recorded import (
    RecordedAdminClient,
    loaded,
    recorded_events,
    recorded_fleet,
    recorded_stats,
)
from tui.app import make_app

SIZE = (160, 48)


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """The feed shows local times; pin the zone so the snapshot does not depend on the host."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()


class UnreachableClient(RecordedAdminClient):
    async def stats(self) -> Stats:
        raise AdminUnreachable(f"{self.url}: ConnectError")


class RefusedTokenClient(RecordedAdminClient):
    async def stats(self) -> Stats:
        raise AdminError(401, "The admin API needs `Authorization: Bearer <admin token>`")


class TestMainScreen:
    def test_with_gpu(self, snap_compare) -> None:  # type: ignore[no-untyped-def]
        assert snap_compare(make_app(RecordedAdminClient()), terminal_size=SIZE, run_before=loaded)

    def test_without_gpu_read_only(self, snap_compare) -> None:  # type: ignore[no-untyped-def]
        app = make_app(RecordedAdminClient(recorded_stats(gpu=False)), readonly=True)
        assert snap_compare(app, terminal_size=SIZE, run_before=loaded)


class TestConnection:
    def test_unreachable_daemon_shows_a_banner(self, snap_compare) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot: Pilot[None]) -> None:
            await pilot.pause(0.2)

        assert snap_compare(
            make_app(UnreachableClient()), terminal_size=SIZE, run_before=run_before
        )

    def test_refused_token_says_so(self, snap_compare) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot: Pilot[None]) -> None:
            await pilot.pause(0.2)

        assert snap_compare(
            make_app(RefusedTokenClient()), terminal_size=SIZE, run_before=run_before
        )


class TestEdits:
    def test_cut_points_preview(self, snap_compare) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot: Pilot[None]) -> None:
            await loaded(pilot)
            await pilot.press("c")
            await pilot.pause(0.2)
            await pilot.press("ctrl+a", "ctrl+k", *"0.3, 0.8")
            await pilot.pause()

        assert snap_compare(
            make_app(RecordedAdminClient()), terminal_size=SIZE, run_before=run_before
        )

    def test_quality_target_preview(self, snap_compare) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot: Pilot[None]) -> None:
            await loaded(pilot)
            await pilot.press("c")
            await pilot.pause(0.2)
            await pilot.click("#mode-quality")
            await pilot.pause(0.2)
            await pilot.click("#routing-input")
            await pilot.press("ctrl+a", "ctrl+k", *"99%")
            await pilot.pause(0.3)

        assert snap_compare(
            make_app(RecordedAdminClient()), terminal_size=SIZE, run_before=run_before
        )

    def test_threshold_dialog(self, snap_compare) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot: Pilot[None]) -> None:
            await loaded(pilot)
            await pilot.press("t")
            await pilot.pause(0.2)

        assert snap_compare(
            make_app(RecordedAdminClient()), terminal_size=SIZE, run_before=run_before
        )


class TestHelp:
    def test_help_screen(self, snap_compare) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot: Pilot[None]) -> None:
            await loaded(pilot)
            await pilot.press("question_mark")
            await pilot.pause(0.2)

        assert snap_compare(
            make_app(RecordedAdminClient()), terminal_size=SIZE, run_before=run_before
        )

    def test_help_screen_read_only(self, snap_compare) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot: Pilot[None]) -> None:
            await loaded(pilot)
            await pilot.press("question_mark")
            await pilot.pause(0.2)

        app = make_app(RecordedAdminClient(), readonly=True)
        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


class TestFeed:
    def test_filter_as_typed(self, snap_compare) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot: Pilot[None]) -> None:
            await loaded(pilot)
            await pilot.press("slash", *"tier:mid cache:miss")
            await pilot.pause()

        assert snap_compare(
            make_app(RecordedAdminClient()), terminal_size=SIZE, run_before=run_before
        )

    def test_paused_with_new_requests_waiting(self, snap_compare) -> None:  # type: ignore[no-untyped-def]
        client = RecordedAdminClient()

        async def run_before(pilot: Pilot[None]) -> None:
            await loaded(pilot)
            await pilot.press("space")
            client.send(*recorded_events(3, start=40))
            await pilot.pause(0.2)

        assert snap_compare(make_app(client), terminal_size=SIZE, run_before=run_before)


class TestPrices:
    def test_stale_price_table_is_flagged(self, snap_compare) -> None:  # type: ignore[no-untyped-def]
        stats = recorded_stats(prices_date="2025-09-01", prices_stale=True)
        assert snap_compare(
            make_app(RecordedAdminClient(stats)), terminal_size=SIZE, run_before=loaded
        )


class TestFleet:
    def test_fleet_totals_and_link(self, snap_compare) -> None:  # type: ignore[no-untyped-def]
        stats = msgspec.structs.replace(recorded_stats(gpu=False), fleet=recorded_fleet())
        assert snap_compare(
            make_app(RecordedAdminClient(stats)), terminal_size=SIZE, run_before=loaded
        )

    def test_redis_down_reads_alone(self, snap_compare) -> None:  # type: ignore[no-untyped-def]
        fleet = recorded_fleet(redis="down (ConnectionError: Connection refused)")
        stats = msgspec.structs.replace(recorded_stats(), fleet=fleet)
        assert snap_compare(
            make_app(RecordedAdminClient(stats)), terminal_size=SIZE, run_before=loaded
        )
