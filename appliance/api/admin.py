"""`/admin/*`: stats, live config, events, cache invalidation, ledger export; `/metrics`.

Every admin route is behind the admin bearer token (a guard on the controller). Responses
never carry secrets: tier API keys are not part of any admin type, and events carry prompt
text only when the operator opted in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.response import Stream

from appliance.admin.messages import (
    ConfigPatch,
    CurvePoint,
    FeedbackRequest,
    FeedbackResult,
    FlaggedEntry,
    InvalidateRequest,
    InvalidateResult,
    LiveConfig,
    RequestEvent,
    RoutingPreview,
    Stats,
    TierSetting,
)
from appliance.api import routing
from appliance.api.openai import decode_body
from appliance.api.stats import build_stats
from appliance.cache.semantic import SemanticCache
from appliance.config import ConfigError
from appliance.errors import AuthFailed, InvalidRequest, NotFound
from appliance.ledger.report import export_csv, export_dicts
from appliance.runtime import Runtime
from appliance.security.admin_token import check_bearer
from appliance.telemetry.metrics import CONTENT_TYPE

_encoder = msgspec.json.Encoder()
_HEARTBEAT_S = 15.0


async def admin_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    runtime: Runtime = connection.app.state["runtime"]
    if not check_bearer(connection.headers.get("authorization"), runtime.admin_token):
        raise AuthFailed("The admin API needs `Authorization: Bearer <admin token>`")


def live_config(runtime: Runtime) -> LiveConfig:
    config = runtime.config
    verified = config.cache.verifier
    tiers = []
    for tier in runtime.tiers.tiers:
        price = runtime.accounting.billing.price(tier.name)
        tiers.append(
            TierSetting(
                tier.name, tier.model, tier.enabled, tier.is_available, price.input, price.output
            )
        )
    return LiveConfig(
        cache_enabled=config.cache.enabled,
        cache_threshold=config.cache.threshold,
        cut_points=list(runtime.policy.cut_points().values),
        target_shares=runtime.target_shares(),
        tiers=tiers,
        budgets={c.name: c.budget_usd_month for c in runtime.keys.list()},
        cache_verifier_threshold=config.cache.verifier_threshold if verified else None,
        cache_candidate_threshold=config.cache.candidate_threshold if verified else None,
        quality_target=routing.target_in_force(runtime),
        expected=routing.preview(runtime, None, None) if runtime.curve is not None else None,
    )


class AdminController(Controller):
    path = "/admin"
    guards = [admin_guard]  # noqa: RUF012 - Litestar's layer attribute

    @get("/stats")
    async def stats(self, runtime: Runtime) -> Stats:
        return await build_stats(runtime)

    @get("/config")
    async def get_config(self, runtime: Runtime) -> LiveConfig:
        return live_config(runtime)

    @patch("/config")
    async def patch_config(self, request: Request[Any, Any, Any], runtime: Runtime) -> LiveConfig:
        change = decode_body(await request.body(), ConfigPatch)
        if change.budgets is not msgspec.UNSET:
            known = {c.name for c in runtime.keys.list()}
            for name, budget in change.budgets.items():
                if name not in known:
                    raise InvalidRequest(
                        f"budgets.{name}: no client named {name!r}", param="budgets"
                    )
                if budget is not None and budget < 0:
                    raise InvalidRequest(f"budgets.{name}: must be >= 0", param="budgets")
        try:
            runtime.apply(change)
        except ConfigError as exc:
            raise InvalidRequest(str(exc).removeprefix("config: ")) from None
        if change.budgets is not msgspec.UNSET:
            for name, budget in change.budgets.items():
                runtime.keys.set_budget(name, budget)
        return live_config(runtime)

    @get("/routing/curve")
    async def routing_curve(self, runtime: Runtime) -> list[CurvePoint]:
        """The shipped router's quality/cost curve (share sent up, cut point, quality)."""
        return routing.curve_points(runtime)

    @get("/routing/preview")
    async def routing_preview(
        self,
        runtime: Runtime,
        quality_target: float | None = None,
        cut_points: str | None = None,
    ) -> RoutingPreview | None:
        """What a quality target (or comma-separated cut points) should give, unapplied."""
        cuts = None
        if cut_points is not None:
            try:
                cuts = [float(v) for v in cut_points.split(",")]
            except ValueError:
                raise InvalidRequest("cut_points: comma-separated numbers") from None
        return routing.preview(runtime, quality_target, cuts)

    @get("/recent")
    async def recent(self, runtime: Runtime, limit: int = 500) -> list[RequestEvent]:
        return runtime.bus.recent(min(max(limit, 0), 2000))

    @get("/events")
    async def events(self, runtime: Runtime) -> Stream:
        return Stream(
            _follow(runtime), media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )

    @post("/cache/invalidate", status_code=200)
    async def invalidate(
        self, request: Request[Any, Any, Any], runtime: Runtime
    ) -> InvalidateResult:
        req = decode_body(await request.body(), InvalidateRequest)
        cache = _open_cache(runtime)
        if not (req.all or req.entry_id or req.scope or req.older_than_s is not None):
            raise InvalidRequest("Say what to invalidate: entry_id, scope, older_than_s or all")
        if req.all:
            before = int(cache.stats().get("entries", 0))  # type: ignore[call-overload]
            epoch = cache.bump_epoch()
            return InvalidateResult(removed=before, epoch=epoch)
        removed = cache.invalidate(
            entry_id=req.entry_id, scope=req.scope, older_than_s=req.older_than_s
        )
        return InvalidateResult(removed, int(cache.stats().get("epoch", 0)))  # type: ignore[call-overload]

    @post("/cache/feedback", status_code=200)
    async def cache_feedback(
        self, request: Request[Any, Any, Any], runtime: Runtime
    ) -> FeedbackResult:
        """A client's verdict on an entry it was served (its id is in the
        `x-appliance-cache-entry` header): wrong raises that entry's own bar, or drops it."""
        req = decode_body(await request.body(), FeedbackRequest)
        cache = _open_cache(runtime)
        outcome = await asyncio.to_thread(cache.feedback, req.entry, req.wrong)
        if outcome.action == "unknown":
            raise NotFound(f"No cache entry {req.entry!r}", param="entry")
        return FeedbackResult(outcome.entry_id, outcome.action, outcome.bar, outcome.flags)

    @get("/cache/flagged")
    async def cache_flagged(self, runtime: Runtime, limit: int = 50) -> list[FlaggedEntry]:
        flags = _open_cache(runtime).flagged(min(max(limit, 0), 500))
        # Question text only where the operator opted in to prompts in events.
        shown = runtime.config.security.log_prompts_in_events
        return [
            FlaggedEntry(
                f.entry_id, f.text if shown else "", f.flags, f.bar, f.dropped, f.last, f.reason
            )
            for f in flags
        ]

    @get("/ledger")
    async def ledger(
        self,
        runtime: Runtime,
        since: float | None = None,
        until: float | None = None,
        format: str = "json",
    ) -> Response[bytes]:
        ledger = runtime.accounting.ledger
        if ledger is None:
            raise InvalidRequest("No ledger is configured")
        if format == "csv":
            return Response(export_csv(ledger, since, until).encode(), media_type="text/csv")
        if format != "json":
            raise InvalidRequest("format must be json or csv", param="format")
        return Response(
            _encoder.encode(export_dicts(ledger, since, until)), media_type="application/json"
        )


def _open_cache(runtime: Runtime) -> SemanticCache:
    if runtime.cache is None:
        raise InvalidRequest("The cache is not open yet")
    return runtime.cache


async def _follow(runtime: Runtime) -> AsyncIterator[bytes]:
    async with runtime.bus.subscribe() as queue:
        yield b": connected\n\n"
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), _HEARTBEAT_S)
            except TimeoutError:
                yield b": keep-alive\n\n"  # lets proxies and clients notice a dead link
                continue
            yield b"data: " + _encoder.encode(event) + b"\n\n"


@get("/metrics")
async def metrics(runtime: Runtime) -> Response[bytes]:
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE)
