"""Totals over the ledger: today, this month, per client, per tier, savings, projection.

It owns the definitions of the numbers the operator reads (what counts as a request, a cache
hit, an escalation, a saving) and computes each with one SQL aggregate (hourly rollups plus
the raw rows at a window's edges), never a Python loop over rows, so a month of traffic sums
in milliseconds. It must not format anything (`report` does) or write to the ledger.

Definitions, because they are easy to get subtly wrong:
- a *request* is its attempt-0 row; an *attempt* is any row (escalations add attempts 1, 2..);
- *cost* sums every attempt (a failed cheap try that burned tokens still cost money);
  *baseline* sums `baseline_usd`, which the pipeline sets only on the answering attempt;
- *savings* = baseline - cost; *savings %* = savings / baseline (0 when baseline is 0);
- *cache hit rate* = hits / requests that looked in the cache (cache "bypass" excluded);
- *latency* of a request is the sum of its attempts, as the client waited through all;
- *tier mix* is the share of successful attempts (answers) per tier;
- days and months are the box's local calendar, as the operator reads them.
"""

from __future__ import annotations

import math
import time
from typing import Any

from appliance.ledger.db import Ledger
from appliance.ledger.migrations import ROLLUP_BUCKET_S

_DAY_S = 86_400.0
_TRAILING_DAYS = 7.0
# Projection divides by at least this many days, so one busy first hour is not extrapolated
# into a month of that rate.
_MIN_SPAN_DAYS = 1.0

# Counts are plain sums, no DISTINCT: every request has exactly one attempt-0 row (see
# `LedgerRow`), a cache hit is one row, and an escalated request has exactly one attempt-1 row.
# Whole hours come from `ledger_rollup` (kept by the writer); only the partial hours at the
# window's edges are summed from raw rows, so a window costs the same at any traffic level.
_RAW = """
    SELECT client, tier, 1, attempt = 0, status = 'ok', cost_usd, baseline_usd, prompt_tokens,
           completion_tokens, cached_tokens, cache = 'hit',
           attempt = 0 AND cache IN ('hit', 'miss'), attempt = 1, status != 'ok', estimated,
           stream, latency_ms
    FROM ledger WHERE ts >= ? AND ts < ?
"""
# A compound SELECT takes its column names from its first part.
_PARTS = f"""
    SELECT client, tier, attempts AS a, requests AS r, answers AS an, cost_usd AS c,
           baseline_usd AS b, prompt_tokens AS pt, completion_tokens AS ct, cached_tokens AS kt,
           cache_hits AS h, cache_lookups AS l, escalations AS e, failed_attempts AS f,
           estimated_rows AS es, streamed_rows AS st, latency_ms AS lat
    FROM ledger_rollup WHERE bucket >= ? AND bucket < ?
    UNION ALL {_RAW}
    UNION ALL {_RAW}
"""
_SUMS_SQL = """
SELECT {key}, COUNT(*) > 0, TOTAL(a), TOTAL(r), TOTAL(an), TOTAL(c), TOTAL(b), TOTAL(pt),
       TOTAL(ct), TOTAL(kt), TOTAL(h), TOTAL(l), TOTAL(e), TOTAL(f), TOTAL(es), TOTAL(st),
       TOTAL(lat)
FROM ({parts})
{group}
"""


def _sums(ledger: Ledger, key: str | None, start: float, end: float) -> list[tuple[Any, ...]]:
    """Raw sums for `start <= ts < end`, grouped by `key` ("client", "tier") or in total."""
    whole_start = math.ceil(start / ROLLUP_BUCKET_S) * ROLLUP_BUCKET_S
    whole_end = math.floor(end / ROLLUP_BUCKET_S) * ROLLUP_BUCKET_S
    if whole_start >= whole_end:  # shorter than an hour: all raw
        params: tuple[float, ...] = (0, 0, start, end, 0, 0)
    else:
        params = (whole_start, whole_end, start, whole_start, whole_end, end)
    sql = _SUMS_SQL.format(
        key=key or "NULL",
        parts=_PARTS,
        group=f"GROUP BY {key} ORDER BY {key}" if key else "",
    )
    return ledger.query(sql, params)


def _stats(r: tuple[Any, ...]) -> dict[str, Any]:
    attempts, requests, answers = int(r[0]), int(r[1]), int(r[2])
    cost, baseline = r[3], r[4]
    hits, lookups = int(r[8]), int(r[9])
    return {
        "attempts": attempts,
        "requests": requests,
        "answers": answers,
        "cost_usd": cost,
        "baseline_usd": baseline,
        "savings_usd": baseline - cost,
        "savings_pct": 100.0 * _ratio(baseline - cost, baseline),
        "prompt_tokens": int(r[5]),
        "completion_tokens": int(r[6]),
        "cached_tokens": int(r[7]),
        "cache_hits": hits,
        "cache_lookups": lookups,
        "cache_hit_rate": _ratio(hits, lookups),
        "escalations": int(r[10]),
        "failed_attempts": int(r[11]),
        "estimated_rows": int(r[12]),
        "streamed_rows": int(r[13]),
        # Mean over requests of the time the client waited (all its attempts): total / count.
        "avg_latency_ms": _ratio(r[14], requests),
        "avg_attempt_latency_ms": _ratio(r[14], attempts),
    }


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def day_bounds(now: float) -> tuple[float, float]:
    """[local midnight, next local midnight) around `now`; DST days are 23 or 25 hours."""
    t = time.localtime(now)
    start = time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))
    end = time.mktime((t.tm_year, t.tm_mon, t.tm_mday + 1, 0, 0, 0, 0, 0, -1))
    return start, end


def month_bounds(now: float) -> tuple[float, float]:
    """[first of this local month, first of the next) around `now`."""
    t = time.localtime(now)
    return _month(t.tm_year, t.tm_mon)


def parse_month(text: str) -> tuple[float, float]:
    """Bounds of "YYYY-MM"; raises ValueError with the expected format."""
    try:
        year_s, month_s = text.split("-")
        year, month = int(year_s), int(month_s)
    except ValueError:
        raise ValueError(f"month: expected YYYY-MM, got {text!r}") from None
    if not 1 <= month <= 12 or len(year_s) != 4:
        raise ValueError(f"month: expected YYYY-MM, got {text!r}")
    return _month(year, month)


def _month(year: int, month: int) -> tuple[float, float]:
    start = time.mktime((year, month, 1, 0, 0, 0, 0, 0, -1))
    end = time.mktime((year + month // 12, month % 12 + 1, 1, 0, 0, 0, 0, 0, -1))
    return start, end


def window_stats(ledger: Ledger, start: float, end: float) -> dict[str, Any]:
    """Totals for `start <= ts < end`."""
    (row,) = _sums(ledger, None, start, end)
    return {"start": start, "end": end, **_stats(row[2:])}


def _grouped(ledger: Ledger, key: str, start: float, end: float) -> dict[str, dict[str, Any]]:
    return {r[0]: _stats(r[2:]) for r in _sums(ledger, key, start, end)}


def by_tier(ledger: Ledger, start: float, end: float) -> dict[str, dict[str, Any]]:
    """Per tier. A tier's own speed is `avg_attempt_latency_ms`; `requests` counts the
    requests that started on it (attempt 0), `answers` the successful attempts it served."""
    return _grouped(ledger, "tier", start, end)


def by_client(ledger: Ledger, start: float, end: float) -> dict[str, dict[str, Any]]:
    return _grouped(ledger, "client", start, end)


def breakdown(
    ledger: Ledger, start: float, end: float
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(totals, by tier, by client) from one query grouped by (client, tier).

    The same numbers as `window_stats`, `by_tier` and `by_client`, at a third of the cost: the
    folding below loops over (client, tier) groups, a few dozen, not over rows.
    """
    total = [0.0] * 15
    tiers: dict[str, list[float]] = {}
    clients: dict[str, list[float]] = {}
    for r in _sums(ledger, "client, tier", start, end):
        sums = r[3:]
        for acc in (
            total,
            tiers.setdefault(r[1], [0.0] * 15),
            clients.setdefault(r[0], [0.0] * 15),
        ):
            for i, v in enumerate(sums):
                acc[i] += v
    return (
        {"start": start, "end": end, **_stats(tuple(total))},
        {k: _stats(tuple(v)) for k, v in sorted(tiers.items())},
        {k: _stats(tuple(v)) for k, v in sorted(clients.items())},
    )


def tier_mix(tiers: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Share of answers per tier (sums to 1 when there are answers)."""
    answers = sum(t["answers"] for t in tiers.values())
    return {name: _ratio(t["answers"], answers) for name, t in tiers.items()}


def month_spend_by_client(ledger: Ledger, month_start: float) -> dict[str, float]:
    """USD spent per client since `month_start` (seeds the in-memory budget counters)."""
    rows = _sums(ledger, "client", month_start, max(month_start, time.time()) + 40 * _DAY_S)
    return {r[0]: r[5] for r in rows}


def projection(ledger: Ledger, now: float, month: dict[str, Any]) -> dict[str, Any]:
    """Month-to-date plus the trailing-7-day daily rate times the days left in the month."""
    trail_start = now - _TRAILING_DAYS * _DAY_S
    (first,) = ledger.query("SELECT MIN(ts) FROM ledger")
    cost = baseline = 0.0
    span_days = 0.0
    if first[0] is not None:
        trail = window_stats(ledger, trail_start, now)
        cost, baseline = trail["cost_usd"], trail["baseline_usd"]
        span_days = max((now - max(trail_start, first[0])) / _DAY_S, _MIN_SPAN_DAYS)
    days_left = max(month["end"] - now, 0.0) / _DAY_S
    daily_cost = _ratio(cost, span_days)
    daily_baseline = _ratio(baseline, span_days)
    projected_cost = month["cost_usd"] + daily_cost * days_left
    projected_baseline = month["baseline_usd"] + daily_baseline * days_left
    return {
        "trailing_days": span_days,
        "trailing_cost_usd": cost,
        "trailing_baseline_usd": baseline,
        "daily_cost_usd": daily_cost,
        "daily_baseline_usd": daily_baseline,
        "days_left": days_left,
        "cost_usd": projected_cost,
        "baseline_usd": projected_baseline,
        "savings_usd": projected_baseline - projected_cost,
        "savings_pct": 100.0 * _ratio(projected_baseline - projected_cost, projected_baseline),
    }


def summarize(
    ledger: Ledger, now: float | None = None, server_monthly_usd: float = 0.0
) -> dict[str, Any]:
    """Everything the stats API and the TUI show, JSON-able.

    Top-level `cache_hit_rate`, `tier_mix`, `avg_latency_ms`, `escalations`, `by_client` and
    `by_tier` are for the current month. The server's fixed monthly cost is kept apart from
    per-token spend and only folded in by the `*_with_server` / `net_*` figures.
    """
    now = time.time() if now is None else now
    today = window_stats(ledger, *day_bounds(now))
    month, tiers, clients = breakdown(ledger, *month_bounds(now))
    projected = projection(ledger, now, month)
    return {
        "now": now,
        "today": today,
        "month": month,
        "projected_month": projected,
        "by_client": clients,
        "by_tier": tiers,
        "tier_mix": tier_mix(tiers),
        "cache_hit_rate": month["cache_hit_rate"],
        "avg_latency_ms": month["avg_latency_ms"],
        "escalations": month["escalations"],
        "server_monthly_usd": server_monthly_usd,
        "projected_cost_with_server_usd": projected["cost_usd"] + server_monthly_usd,
        "projected_net_savings_usd": projected["savings_usd"] - server_monthly_usd,
    }
