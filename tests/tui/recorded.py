"""`RecordedAdminClient`: an in-memory stand-in for `AdminClient` with fixed, deterministic
stats, config and events, so snapshots of the panel do not move. It records the patches and
invalidations it is sent, applies patches to its config the way the daemon would, and streams
the live events a test `send`s. `loaded` waits for a panel built on it to fill."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import msgspec
from rich.console import Console
from textual.pilot import Pilot
from textual.widget import Widget

from appliance.admin.messages import (
    CacheStats,
    ClientStats,
    ConfigPatch,
    FlaggedEntry,
    FleetBox,
    FleetStats,
    GpuStats,
    InvalidateRequest,
    InvalidateResult,
    LedgerHealth,
    LiveConfig,
    Money,
    RequestEvent,
    RoutingPreview,
    RoutingStats,
    SpendStats,
    Stats,
    SystemStats,
    TierSetting,
    TierStats,
)
from tui.screens.main import MainScreen
from tui.widgets.request_feed import RequestFeed

T0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
GIB = 2**30


def recorded_stats(
    *, gpu: bool = True, prices_date: str = "2025-12-01", prices_stale: bool = False
) -> Stats:
    gpus = [GpuStats(0, "NVIDIA H100 80GB HBM3", 63.0, 41 * GIB, 80 * GIB, 58.0, 212.5)]
    return Stats(
        time=T0 + 3600,
        uptime_s=3 * 3600 + 25 * 60,
        requests_per_s=4.2,
        latency_ms_avg=182.0,
        spend=SpendStats(
            today=Money(1.2345, 9.8765, 8.642, 87.5, 1234),
            month=Money(23.45, 187.6, 164.15, 87.5, 23456),
            projected_month_usd=72.7,
            projected_baseline_usd=581.6,
            server_monthly_usd=150.0,
        ),
        cache=CacheStats(True, 0.9, 5120, 432, 802, 432 / 1234, 3),
        tiers=[
            TierStats(
                "local",
                "smollm2-135m-instruct",
                "llamacpp",
                True,
                True,
                requests=700,
                share=0.567,
                cost_usd=0.0,
            ),
            TierStats(
                "mid",
                "mistral-7b",
                "vllm",
                True,
                True,
                queue_depth=3,
                kv_cache_usage=0.41,
                requests=420,
                share=0.340,
                cost_usd=0.42,
                price_input=0.2,
                price_output=0.6,
            ),
            TierStats(
                "frontier",
                "gpt-4o",
                "openai",
                False,
                True,
                reason="circuit open",
                circuit="open",
                requests=114,
                share=0.092,
                cost_usd=0.81,
                price_input=2.5,
                price_output=10.0,
            ),
        ],
        clients=[
            ClientStats("billing-bot", "shared", 12.5, 20.0),
            ClientStats("support-app", "private", 9.2, 10.0),
            ClientStats("notebooks", "shared", 1.75, None),
        ],
        routing=RoutingStats(
            cut_points=[0.35, 0.72],
            score_histogram=[
                2,
                5,
                12,
                30,
                55,
                80,
                95,
                70,
                60,
                44,
                38,
                30,
                25,
                20,
                16,
                12,
                9,
                5,
                3,
                1,
            ],
            escalations=17,
            tier_series={
                "local": [
                    3,
                    5,
                    8,
                    6,
                    9,
                    12,
                    10,
                    7,
                    11,
                    14,
                    13,
                    9,
                    8,
                    10,
                    12,
                    15,
                    11,
                    9,
                    10,
                    12,
                    14,
                    16,
                    13,
                    12,
                    10,
                    9,
                    11,
                    13,
                    12,
                    14,
                ],
                "mid": [
                    1,
                    2,
                    4,
                    3,
                    5,
                    6,
                    4,
                    3,
                    6,
                    8,
                    7,
                    5,
                    4,
                    6,
                    7,
                    8,
                    6,
                    5,
                    6,
                    7,
                    8,
                    9,
                    7,
                    6,
                    5,
                    4,
                    6,
                    7,
                    6,
                    8,
                ],
                "frontier": [
                    0,
                    1,
                    1,
                    0,
                    2,
                    1,
                    1,
                    0,
                    1,
                    2,
                    3,
                    1,
                    0,
                    1,
                    2,
                    1,
                    0,
                    0,
                    1,
                    1,
                    2,
                    1,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                ],
            },
        ),
        system=SystemStats(
            cpu_percent=37.0,
            ram_used_bytes=int(5.4 * GIB),
            ram_total_bytes=16 * GIB,
            process_rss_bytes=612 * 2**20,
            load_avg=[1.4, 1.1, 0.9],
            gpus=gpus if gpu else [],
            gpu_error=None if gpu else "NVML not found",
        ),
        ledger=LedgerHealth(),
        version="0.1.0",
        prices_date=prices_date,
        prices_stale=prices_stale,
    )


def recorded_events(n: int = 40, start: int = 0) -> list[RequestEvent]:
    """`n` requests 15 s apart, ids req-<start>… (a later `start` gives later requests)."""
    clients = ("billing-bot", "support-app", "notebooks")
    events = []
    for i in range(start, start + n):
        score = ((i * 37) % 100) / 100
        hit = i % 4 == 0
        tier = "local" if score < 0.35 else "mid" if score < 0.72 else "frontier"
        price = {"local": (0.0, 0.0), "mid": (0.2, 0.6), "frontier": (2.5, 10.0)}[tier]
        prompt, completion = 200 + 13 * i, 40 + 7 * i
        cost = 0.0 if hit else (prompt * price[0] + completion * price[1]) / 1e6
        events.append(
            RequestEvent(
                id=f"req-{i:04d}",
                time=T0 + 3000 + 15 * i,
                client=clients[i % 3],
                model="auto",
                tier="cache" if hit else tier,
                cache="hit" if hit else "miss",
                route_reason="cache" if hit else "score",
                status="ok",
                latency_ms=4.0 if hit else 120.0 + 9 * i,
                score=score,
                prompt_tokens=prompt,
                completion_tokens=0 if hit else completion,
                cost_usd=cost,
                baseline_usd=(prompt * 2.5 + completion * 10.0) / 1e6,
            )
        )
    return events


def recorded_config() -> LiveConfig:
    return LiveConfig(
        cache_enabled=True,
        cache_threshold=0.9,
        cache_verifier_threshold=0.65,
        cache_candidate_threshold=0.6,
        cut_points=[0.35, 0.72],
        target_shares=None,
        tiers=[
            TierSetting("local", "smollm2-135m-instruct", True, True, 0.0, 0.0),
            TierSetting("mid", "mistral-7b", True, True, 0.2, 0.6),
            TierSetting("frontier", "gpt-4o", True, False, 2.5, 10.0),
        ],
        budgets={"billing-bot": 20.0, "support-app": 10.0},
    )


def recorded_flagged() -> list[FlaggedEntry]:
    return [
        FlaggedEntry("9f2c4e1a7b3d5f60", "", 2, 0.0, True, T0 + 3000, "flagged wrong"),
        FlaggedEntry("41d0aa8c92e7b611", "", 1, 0.82, False, T0 - 1800, "flagged wrong"),
    ]


class RecordedAdminClient:
    """Same async methods as `AdminClient`; serves recorded data from memory."""

    def __init__(
        self,
        stats: Stats | None = None,
        events: list[RequestEvent] | None = None,
        url: str = "http://recorded.invalid:8080",
    ) -> None:
        self.url = url
        self._stats = stats or recorded_stats()
        self._events = recorded_events() if events is None else events
        self._config = recorded_config()
        self.patches: list[ConfigPatch] = []
        self.invalidations: list[InvalidateRequest] = []
        self.previews: list[float] = []
        self._live: asyncio.Queue[RequestEvent] = asyncio.Queue()

    async def stats(self) -> Stats:
        return self._stats

    async def config(self) -> LiveConfig:
        return self._config

    async def patch_config(self, patch: ConfigPatch) -> LiveConfig:
        self.patches.append(patch)
        changes = msgspec.to_builtins(patch)
        if "tiers_enabled" in changes:
            tiers = [
                msgspec.structs.replace(t, enabled=changes["tiers_enabled"].get(t.name, t.enabled))
                for t in self._config.tiers
            ]
            self._config = msgspec.structs.replace(self._config, tiers=tiers)
        for key in ("cut_points", "target_shares", "quality_target"):
            if key in changes:  # the three ways to route replace each other
                self._config = msgspec.structs.replace(
                    self._config, cut_points=None, target_shares=None, quality_target=None
                )
        for key in (
            "cache_enabled",
            "cache_threshold",
            "cache_verifier_threshold",
            "cut_points",
            "target_shares",
            "quality_target",
        ):
            if key in changes:
                self._config = msgspec.structs.replace(self._config, **{key: changes[key]})
        if "budgets" in changes:
            budgets = {**self._config.budgets, **changes["budgets"]}
            self._config = msgspec.structs.replace(self._config, budgets=budgets)
        return self._config

    async def invalidate(self, request: InvalidateRequest) -> InvalidateResult:
        self.invalidations.append(request)
        return InvalidateResult(
            removed=self._stats.cache.entries, epoch=self._stats.cache.epoch + 1
        )

    async def recent(self, limit: int = 500) -> list[RequestEvent]:
        return self._events[-limit:]

    async def routing_preview(self, quality_target: float) -> RoutingPreview | None:
        """A recorded curve: a stricter target moves both cut points down (more traffic up)."""
        self.previews.append(quality_target)
        shift = (quality_target - 0.95) * 2
        cuts = [round(0.35 - shift, 4), round(0.72 - shift, 4)]
        top = round(0.2 + shift, 4)
        return RoutingPreview(
            cuts,
            [0.5, round(0.3 - shift, 4), top],
            quality_target - 0.01,
            quality_target,
            round(0.25 + shift, 4),
            quality_target,
        )

    async def cache_flagged(self, limit: int = 50) -> list[FlaggedEntry]:
        return recorded_flagged()[:limit]

    def send(self, *events: RequestEvent) -> None:
        """Live traffic: the next events `events()` streams, as the daemon's SSE would."""
        for event in events:
            self._live.put_nowait(event)

    async def events(self) -> AsyncIterator[RequestEvent]:
        """What `send` was given; until then a quiet daemon, waiting forever."""
        while True:
            yield await self._live.get()


async def loaded(pilot: Pilot[None]) -> None:
    """Wait until the first stats and the feed's backfill are on screen."""
    for _ in range(100):
        screen = pilot.app.screen
        if (
            isinstance(screen, MainScreen)
            and screen.stats is not None
            and screen.query_one(RequestFeed).row_count
        ):
            break
        await pilot.pause(0.02)
    await pilot.pause()


def shown(widget: Widget) -> str:
    """The text a panel renders, as the terminal would show it."""
    console = Console(width=widget.size.width, file=io.StringIO(), record=True)
    console.print(widget.render())
    return console.export_text()


def recorded_fleet(redis: str = "up") -> FleetStats:
    """Three boxes, one of them gone quiet, for the fleet lines of the panel."""
    boxes = [
        FleetBox("gw-1:8080", T0 + 3598, "2026-01-01", Money(0.61, 4.9, 4.29, 87.6, 600)),
        FleetBox("gw-2:8080", T0 + 3599, "2026-01-01", Money(0.62, 4.98, 4.36, 87.6, 634)),
        FleetBox("gw-3:8080", T0 - 7200, "2025-12-31", Money(0.0, 0.0, 0.0, 0.0, 0)),
    ]
    for box in boxes[:2]:
        box.online = True
    return FleetStats(
        box="gw-1:8080",
        redis_url="redis://redis.lan:6379/0",
        redis=redis,
        budgets="fleet" if redis == "up" else "local",
        queued_writes=0 if redis == "up" else 12,
        applied_entries=2210,
        lag_p50_ms=1.4,
        lag_p99_ms=6.0,
        today=Money(1.23, 9.88, 8.65, 87.5, 1234),
        month=Money(47.1, 376.2, 329.1, 87.5, 47012),
        boxes=boxes,
        figures_at=T0 + 3599,
    )
