"""Assembles `/admin/stats` from the runtime: the ledger's aggregates, cache, tiers, clients,
routing, system, and with a fleet its totals and per-box figures.

Everything here is read-only and cheap enough for a TUI polling once a second: the ledger
part is a few indexed SQL sums over hourly roll-ups (run in a worker thread), the rest is
in memory.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

from appliance.admin.messages import (
    CacheStats,
    ClientStats,
    LedgerHealth,
    RoutingStats,
    SpendStats,
    Stats,
    SystemStats,
    TierStats,
)
from appliance.fleet.figures import money as _money
from appliance.ledger.aggregates import summarize
from appliance.runtime import Runtime
from appliance.version import version


async def build_stats(runtime: Runtime) -> Stats:
    ledger = runtime.accounting.ledger
    prices = runtime.accounting.billing.prices
    now = time.time()
    summary: dict[str, Any] | None = None
    ledger_health = LedgerHealth(ok=runtime.ledger_error is None, error=runtime.ledger_error)
    if ledger is not None:
        health = ledger.health()
        ledger_health = LedgerHealth(ok=health.ok, error=health.last_error)
        try:
            summary = await asyncio.to_thread(
                summarize, ledger, now, runtime.config.ledger.server_monthly_usd
            )
        except Exception as exc:  # a broken disk must not take the stats page down
            ledger_health = LedgerHealth(ok=False, error=f"cannot read the ledger: {exc}")
    spend = SpendStats(server_monthly_usd=runtime.config.ledger.server_monthly_usd)
    by_tier: dict[str, Any] = {}
    by_client: dict[str, Any] = {}
    tier_mix: dict[str, float] = {}
    if summary is not None:
        projected = summary["projected_month"]
        spend = SpendStats(
            today=_money(summary["today"]),
            month=_money(summary["month"]),
            projected_month_usd=projected["cost_usd"],
            projected_baseline_usd=projected["baseline_usd"],
            server_monthly_usd=summary["server_monthly_usd"],
        )
        by_tier, by_client = summary["by_tier"], summary["by_client"]
        tier_mix = summary["tier_mix"]
    return Stats(
        time=now,
        uptime_s=now - runtime.started_at,
        requests_per_s=runtime.bus.requests_per_s(now),
        spend=spend,
        cache=_cache_stats(runtime, summary),
        tiers=await _tier_stats(runtime, by_tier, tier_mix),
        clients=_client_stats(runtime, by_client),
        routing=_routing_stats(runtime, now),
        system=_system_stats(runtime),
        ledger=ledger_health,
        latency_ms_avg=summary["avg_latency_ms"] if summary else 0.0,
        version=version(),
        prices_date=prices.date,
        prices_stale=prices.is_stale(dt.date.today()),
        # In memory: the fleet's figures are read from Redis by its writer thread.
        fleet=runtime.fleet.stats() if runtime.fleet is not None else None,
    )


def _cache_stats(runtime: Runtime, summary: dict[str, Any] | None) -> CacheStats:
    config = runtime.config.cache
    stats = CacheStats(enabled=config.enabled, threshold=config.threshold)
    cache = runtime.cache
    if cache is not None:
        raw = cache.stats()
        stats.entries = int(raw.get("entries", 0))  # type: ignore[call-overload]
        stats.epoch = int(raw.get("epoch", 0))  # type: ignore[call-overload]
    if summary is not None:
        month = summary["month"]
        stats.hits, stats.hit_rate = month["cache_hits"], month["cache_hit_rate"]
        stats.misses = month["cache_lookups"] - month["cache_hits"]
    return stats


async def _tier_stats(
    runtime: Runtime, by_tier: dict[str, Any], tier_mix: dict[str, float]
) -> list[TierStats]:
    out = []
    for tier in runtime.tiers.tiers:
        price = runtime.accounting.billing.price(tier.name)
        row = by_tier.get(tier.name, {})
        stats = TierStats(
            name=tier.name,
            model=tier.model,
            backend=tier.config.backend,
            available=tier.is_available,
            enabled=tier.enabled,
            reason=tier.unavailable,
            circuit=tier.circuit.state,
            requests=int(row.get("answers", 0)),
            share=tier_mix.get(tier.name, 0.0),
            cost_usd=float(row.get("cost_usd", 0.0)),
            price_input=price.input,
            price_output=price.output,
        )
        if tier.backend is not None and tier.is_available:
            health = await tier.backend.health()
            stats.queue_depth, stats.kv_cache_usage = health.queue_depth, health.kv_cache_usage
        out.append(stats)
    return out


def _client_stats(runtime: Runtime, by_client: dict[str, Any]) -> list[ClientStats]:
    budgets = runtime.accounting.budgets
    out = []
    for client in runtime.keys.list():
        spent = budgets.spent(client.id)
        out.append(ClientStats(client.name, client.namespace, spent, client.budget_usd_month))
    if "anonymous" in by_client:
        out.append(ClientStats("anonymous", "shared", by_client["anonymous"]["cost_usd"]))
    return out


def _routing_stats(runtime: Runtime, now: float) -> RoutingStats:
    return RoutingStats(
        cut_points=list(runtime.policy.cut_points().values),
        target_shares=runtime.target_shares(),
        score_histogram=runtime.bus.score_histogram(),
        escalations=runtime.bus.escalations,
        tier_series=runtime.bus.tier_series([t.name for t in runtime.tiers.tiers] + ["cache"], now),
    )


def _system_stats(runtime: Runtime) -> SystemStats:
    return runtime.sampler.latest or runtime.sampler.sample()
