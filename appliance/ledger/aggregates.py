"""Totals over the ledger: today, this month, per client, per tier, savings, projection.

It owns the definitions of the numbers the operator reads (what counts as a request, a cache
hit, an escalation, a saving) and computes each with one SQL aggregate over the `ts` index,
never a Python loop over rows, so a month of traffic sums in milliseconds. It must not format
anything (`report` does) or write to the ledger.

Definitions, because they are easy to get subtly wrong:
- a *request* is a distinct `request_id`; an *attempt* is a row (escalations add attempts);
- *cost* sums every attempt (a failed cheap try that burned tokens still cost money);
  *baseline* sums `baseline_usd`, which the pipeline sets only on the answering attempt;
- *savings* = baseline - cost; *savings %* = savings / baseline (0 when baseline is 0);
- *cache hit rate* = hits / requests that looked in the cache (cache "bypass" excluded);
- *latency* of a request is the sum of its attempts, as the client waited through all;
- *tier mix* is the share of successful attempts (answers) per tier;
- days and months are the box's local calendar, as the operator reads them.
"""

from __future__ import annotations

import time
from typing import Any

from appliance.ledger.db import Ledger

_DAY_S = 86_400.0
_TRAILING_DAYS = 7.0
# Projection divides by at least this many days, so one busy first hour is not extrapolated
# into a month of that rate.
_MIN_SPAN_DAYS = 1.0

_WINDOW_SQL = """
SELECT
    COUNT(*),
    COUNT(DISTINCT request_id),
    TOTAL(cost_usd),
    TOTAL(baseline_usd),
    TOTAL(prompt_tokens),
    TOTAL(completion_tokens),
    TOTAL(cached_tokens),
    COUNT(DISTINCT CASE WHEN cache = 'hit' THEN request_id END),
    COUNT(DISTINCT CASE WHEN cache IN ('hit', 'miss') THEN request_id END),
    COUNT(DISTINCT CASE WHEN attempt > 0 THEN request_id END),
    TOTAL(status != 'ok'),
    TOTAL(estimated),
    TOTAL(stream)
FROM ledger WHERE ts >= ? AND ts < ?
"""
_LATENCY_SQL = """
SELECT AVG(total) FROM (
    SELECT SUM(latency_ms) AS total FROM ledger WHERE ts >= ? AND ts < ? GROUP BY request_id
)
"""
_GROUP_SQL = """
SELECT
    {key},
    COUNT(*),
    COUNT(DISTINCT request_id),
    TOTAL(status = 'ok'),
    TOTAL(cost_usd),
    TOTAL(baseline_usd),
    TOTAL(prompt_tokens),
    TOTAL(completion_tokens),
    TOTAL(cached_tokens),
    AVG(latency_ms),
    COUNT(DISTINCT CASE WHEN cache = 'hit' THEN request_id END),
    COUNT(DISTINCT CASE WHEN cache IN ('hit', 'miss') THEN request_id END)
FROM ledger WHERE ts >= ? AND ts < ? GROUP BY {key} ORDER BY {key}
"""


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
    (row,) = ledger.query(_WINDOW_SQL, (start, end))
    (latency,) = ledger.query(_LATENCY_SQL, (start, end))
    cost, baseline = row[2], row[3]
    hits, lookups = row[7], row[8]
    return {
        "start": start,
        "end": end,
        "attempts": row[0],
        "requests": row[1],
        "cost_usd": cost,
        "baseline_usd": baseline,
        "savings_usd": baseline - cost,
        "savings_pct": 100.0 * _ratio(baseline - cost, baseline),
        "prompt_tokens": int(row[4]),
        "completion_tokens": int(row[5]),
        "cached_tokens": int(row[6]),
        "cache_hits": hits,
        "cache_lookups": lookups,
        "cache_hit_rate": _ratio(hits, lookups),
        "escalations": row[9],
        "failed_attempts": int(row[10]),
        "estimated_rows": int(row[11]),
        "streamed_rows": int(row[12]),
        "avg_latency_ms": latency[0] or 0.0,
    }


def _grouped(ledger: Ledger, key: str, start: float, end: float) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in ledger.query(_GROUP_SQL.format(key=key), (start, end)):
        cost, baseline = r[4], r[5]
        out[r[0]] = {
            "attempts": r[1],
            "requests": r[2],
            "answers": int(r[3]),
            "cost_usd": cost,
            "baseline_usd": baseline,
            "savings_usd": baseline - cost,
            "savings_pct": 100.0 * _ratio(baseline - cost, baseline),
            "prompt_tokens": int(r[6]),
            "completion_tokens": int(r[7]),
            "cached_tokens": int(r[8]),
            "avg_latency_ms": r[9] or 0.0,
            "cache_hits": r[10],
            "cache_hit_rate": _ratio(r[10], r[11]),
        }
    return out


def by_tier(ledger: Ledger, start: float, end: float) -> dict[str, dict[str, Any]]:
    """Per tier; `avg_latency_ms` here is per attempt (the tier's own speed)."""
    return _grouped(ledger, "tier", start, end)


def by_client(ledger: Ledger, start: float, end: float) -> dict[str, dict[str, Any]]:
    return _grouped(ledger, "client", start, end)


def tier_mix(tiers: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Share of answers per tier (sums to 1 when there are answers)."""
    answers = sum(t["answers"] for t in tiers.values())
    return {name: _ratio(t["answers"], answers) for name, t in tiers.items()}


def month_spend_by_client(ledger: Ledger, month_start: float) -> dict[str, float]:
    """USD spent per client since `month_start` (seeds the in-memory budget counters)."""
    rows = ledger.query(
        "SELECT client, TOTAL(cost_usd) FROM ledger WHERE ts >= ? GROUP BY client",
        (month_start,),
    )
    return {client: spent for client, spent in rows}


def projection(ledger: Ledger, now: float, month: dict[str, Any]) -> dict[str, Any]:
    """Month-to-date plus the trailing-7-day daily rate times the days left in the month."""
    trail_start = now - _TRAILING_DAYS * _DAY_S
    (first,) = ledger.query("SELECT MIN(ts) FROM ledger")
    cost = baseline = 0.0
    span_days = 0.0
    if first[0] is not None:
        (trail,) = ledger.query(
            "SELECT TOTAL(cost_usd), TOTAL(baseline_usd) FROM ledger WHERE ts >= ? AND ts < ?",
            (trail_start, now),
        )
        cost, baseline = trail
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
    month = window_stats(ledger, *month_bounds(now))
    tiers = by_tier(ledger, month["start"], month["end"])
    projected = projection(ledger, now, month)
    return {
        "now": now,
        "today": today,
        "month": month,
        "projected_month": projected,
        "by_client": by_client(ledger, month["start"], month["end"]),
        "by_tier": tiers,
        "tier_mix": tier_mix(tiers),
        "cache_hit_rate": month["cache_hit_rate"],
        "avg_latency_ms": month["avg_latency_ms"],
        "escalations": month["escalations"],
        "server_monthly_usd": server_monthly_usd,
        "projected_cost_with_server_usd": projected["cost_usd"] + server_monthly_usd,
        "projected_net_savings_usd": projected["savings_usd"] - server_monthly_usd,
    }
