"""Aggregates with exact numbers: a small month of traffic whose totals are worked out by hand."""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

import pytest

from appliance.config import Price
from appliance.ledger.aggregates import (
    breakdown,
    by_client,
    by_tier,
    day_bounds,
    month_bounds,
    month_spend_by_client,
    parse_month,
    summarize,
    window_stats,
)
from appliance.ledger.db import Ledger
from appliance.ledger.migrations import m001_initial
from appliance.ledger.prices import cost
from appliance.ledger.rows import LedgerRow
from appliance.migrations import Migrations

GPT4O = Price(input=2.5, output=10.0, cached_input=1.25)
NOW = time.mktime((2026, 11, 15, 12, 0, 0, 0, 0, -1))
HOUR = 3600.0


def _row(request_id: str, **fields: object) -> LedgerRow:
    values: dict[str, object] = dict(
        ts=NOW - HOUR,
        request_id=request_id,
        client="a",
        tier="local",
        model="smol",
        prompt_tokens=0,
        completion_tokens=0,
        cost_usd=0.0,
        baseline_usd=0.0,
        latency_ms=0.0,
    )
    values.update(fields)
    return LedgerRow(**values)  # type: ignore[arg-type]


@pytest.fixture
def ledger(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Ledger(tmp_path / "ledger.sqlite") as opened:
        opened.record_sync(
            [
                # r1: cloud answer, 400 of 1000 prompt tokens from the provider's cache, streamed.
                _row(
                    "r1",
                    tier="cloud",
                    model="gpt-4o",
                    prompt_tokens=1000,
                    cached_tokens=400,
                    completion_tokens=100,
                    cost_usd=cost(GPT4O, 1000, 100, 400),
                    baseline_usd=cost(GPT4O, 1000, 100, 400),
                    latency_ms=500,
                    stream=True,
                ),
                # r2: our cache answered; the baseline is what gpt-4o would have charged.
                _row(
                    "r2",
                    tier="cache",
                    cache="hit",
                    prompt_tokens=1000,
                    completion_tokens=100,
                    baseline_usd=cost(GPT4O, 1000, 100),
                    latency_ms=2,
                ),
                # r3: local failed, escalated to cloud (baseline on the answering attempt only).
                _row("r3", client="b", prompt_tokens=200, latency_ms=300, status="error:timeout"),
                _row(
                    "r3",
                    client="b",
                    attempt=1,
                    tier="cloud",
                    model="gpt-4o",
                    prompt_tokens=200,
                    completion_tokens=100,
                    cost_usd=cost(GPT4O, 200, 100),
                    baseline_usd=cost(GPT4O, 200, 100),
                    latency_ms=700,
                ),
                # r4: local answer, cache bypassed, usage estimated.
                _row(
                    "r4",
                    client="b",
                    cache="bypass",
                    prompt_tokens=500,
                    completion_tokens=200,
                    baseline_usd=cost(GPT4O, 500, 200),
                    latency_ms=400,
                    estimated=True,
                ),
                # r5: earlier this month.
                _row(
                    "r5",
                    ts=time.mktime((2026, 11, 3, 9, 0, 0, 0, 0, -1)),
                    baseline_usd=0.01,
                    latency_ms=100,
                ),
                # r6: last month; must not count in this month.
                _row(
                    "r6",
                    ts=time.mktime((2026, 10, 20, 9, 0, 0, 0, 0, -1)),
                    tier="cloud",
                    cost_usd=1.0,
                    baseline_usd=1.0,
                    latency_ms=50,
                ),
            ]
        )
        yield opened


def test_cached_tokens_are_not_double_billed(ledger: Ledger) -> None:
    month = summarize(ledger, now=NOW)["month"]
    # r1 = (600*2.5 + 400*1.25 + 100*10)/1e6 = 0.003, r3 = (200*2.5 + 100*10)/1e6 = 0.0015
    assert month["cost_usd"] == pytest.approx(0.0045, abs=1e-12)
    assert month["cached_tokens"] == 400
    assert month["prompt_tokens"] == 1000 + 1000 + 200 + 200 + 500


def test_month_totals_and_savings(ledger: Ledger) -> None:
    s = summarize(ledger, now=NOW)
    month = s["month"]
    baseline = 0.003 + 0.0035 + 0.0015 + 0.00325 + 0.01
    assert month["requests"] == 5 and month["attempts"] == 6
    assert month["baseline_usd"] == pytest.approx(baseline, abs=1e-12)
    assert month["savings_usd"] == pytest.approx(baseline - 0.0045, abs=1e-12)
    assert month["savings_pct"] == pytest.approx(100 * (baseline - 0.0045) / baseline)
    assert month["escalations"] == 1 == s["escalations"]
    assert month["failed_attempts"] == 1
    assert month["estimated_rows"] == 1 and month["streamed_rows"] == 1
    # Per request, attempts summed: (500 + 2 + 1000 + 400 + 100) / 5
    assert s["avg_latency_ms"] == pytest.approx(400.4)


def test_cache_hit_rate_counts_requests_that_looked(ledger: Ledger) -> None:
    # Lookups: r1, r2, r3 (two miss rows, one request), r5; r4 bypassed the cache.
    s = summarize(ledger, now=NOW)
    assert s["month"]["cache_hits"] == 1 and s["month"]["cache_lookups"] == 4
    assert s["cache_hit_rate"] == pytest.approx(0.25)


def test_today_excludes_earlier_days(ledger: Ledger) -> None:
    today = summarize(ledger, now=NOW)["today"]
    assert today["requests"] == 4
    assert today["cost_usd"] == pytest.approx(0.0045, abs=1e-12)
    assert today["baseline_usd"] == pytest.approx(0.01125, abs=1e-12)


def test_per_tier_and_tier_mix(ledger: Ledger) -> None:
    s = summarize(ledger, now=NOW)
    tiers = s["by_tier"]
    assert set(tiers) == {"cache", "cloud", "local"}
    assert tiers["cloud"]["answers"] == 2 and tiers["cloud"]["attempts"] == 2
    assert tiers["cloud"]["cost_usd"] == pytest.approx(0.0045, abs=1e-12)
    assert tiers["local"]["attempts"] == 3 and tiers["local"]["answers"] == 2
    assert tiers["local"]["avg_attempt_latency_ms"] == pytest.approx((300 + 400 + 100) / 3)
    # The cloud tier served r1 (500 ms) and r3 attempt 1 (700 ms): its own speed is 600 ms.
    assert tiers["cloud"]["avg_attempt_latency_ms"] == pytest.approx(600.0)
    assert s["tier_mix"] == pytest.approx({"cloud": 0.4, "cache": 0.2, "local": 0.4})


def test_per_client(ledger: Ledger) -> None:
    clients = summarize(ledger, now=NOW)["by_client"]
    assert clients["a"]["requests"] == 3
    assert clients["a"]["cost_usd"] == pytest.approx(0.003, abs=1e-12)
    assert clients["a"]["baseline_usd"] == pytest.approx(0.0165, abs=1e-12)
    assert clients["b"]["cost_usd"] == pytest.approx(0.0015, abs=1e-12)
    assert clients["b"]["savings_pct"] == pytest.approx(100 * (0.00475 - 0.0015) / 0.00475)


def test_month_spend_by_client_starts_at_the_given_month(ledger: Ledger) -> None:
    start, _ = month_bounds(NOW)
    assert month_spend_by_client(ledger, start) == pytest.approx({"a": 0.003, "b": 0.0015})
    october, _ = parse_month("2026-10")
    assert month_spend_by_client(ledger, october)["a"] == pytest.approx(1.003)


def test_projection_uses_the_trailing_seven_days(ledger: Ledger) -> None:
    s = summarize(ledger, now=NOW, server_monthly_usd=20.0)
    p = s["projected_month"]
    _, month_end = month_bounds(NOW)
    days_left = (month_end - NOW) / 86400
    # Only r1..r4 fall in the last 7 days; r5 (Nov 3) and r6 (Oct) do not.
    assert p["trailing_days"] == pytest.approx(7.0)
    assert p["cost_usd"] == pytest.approx(0.0045 + 0.0045 / 7 * days_left)
    assert p["baseline_usd"] == pytest.approx(0.02125 + 0.01125 / 7 * days_left)
    assert s["projected_cost_with_server_usd"] == pytest.approx(p["cost_usd"] + 20.0)
    assert s["projected_net_savings_usd"] == pytest.approx(p["savings_usd"] - 20.0)


def test_projection_of_a_new_ledger_divides_by_at_least_a_day(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.record_sync([_row("x", ts=NOW - 60, cost_usd=1.0, baseline_usd=2.0)])
        p = summarize(ledger, now=NOW)["projected_month"]
    _, month_end = month_bounds(NOW)
    assert p["trailing_days"] == 1.0
    assert p["cost_usd"] == pytest.approx(1.0 + (month_end - NOW) / 86400)


def test_empty_ledger_summarizes_to_zeros(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        s = summarize(ledger, now=NOW)
    assert s["month"]["requests"] == 0 and s["month"]["cost_usd"] == 0.0
    assert s["month"]["savings_pct"] == 0.0 and s["cache_hit_rate"] == 0.0
    assert s["tier_mix"] == {} and s["projected_month"]["cost_usd"] == 0.0


def test_calendar_bounds() -> None:
    start, end = day_bounds(NOW)
    assert start <= NOW < end and time.localtime(start).tm_hour == 0
    m_start, m_end = parse_month("2026-12")
    assert time.localtime(m_start)[:3] == (2026, 12, 1)
    assert time.localtime(m_end)[:3] == (2027, 1, 1)
    for bad in ("2026-13", "26-01", "november", "2026-00"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            parse_month(bad)


def test_hourly_rollup_agrees_with_raw_rows_for_any_window(tmp_path: Path) -> None:
    rng = random.Random(7)
    base = NOW - 3 * 86400
    rows = [
        _row(
            f"q{i}",
            ts=base + rng.uniform(0, 3 * 86400),
            attempt=rng.choice([0, 0, 0, 1, 2]),
            client=rng.choice(["a", "b", "c"]),
            tier=rng.choice(["local", "cloud", "cache"]),
            cache=rng.choice(["hit", "miss", "bypass"]),
            prompt_tokens=rng.randrange(2000),
            completion_tokens=rng.randrange(500),
            cost_usd=rng.random() / 100,
            baseline_usd=rng.random() / 50,
            latency_ms=rng.uniform(1, 900),
            status=rng.choice(["ok", "ok", "error:timeout"]),
        )
        for i in range(3000)
    ]
    with Ledger(tmp_path / "l.sqlite") as ledger:
        for i in range(0, len(rows), 97):  # many batches, like live traffic
            ledger.record_sync(rows[i : i + 97])
        for _ in range(25):
            start = base + rng.uniform(-3600, 2 * 86400)
            end = start + rng.choice([60.0, 1800.0, 3600.0, rng.uniform(0, 2 * 86400)])
            got = window_stats(ledger, start, end)
            inside = [r for r in rows if start <= r.ts < end]
            assert got["attempts"] == len(inside)
            assert got["requests"] == sum(r.attempt == 0 for r in inside)
            assert got["cost_usd"] == pytest.approx(sum(r.cost_usd for r in inside), abs=1e-9)
            assert got["baseline_usd"] == pytest.approx(
                sum(r.baseline_usd for r in inside), abs=1e-9
            )
            assert got["prompt_tokens"] == sum(r.prompt_tokens for r in inside)
            assert got["cache_hits"] == sum(r.cache == "hit" for r in inside)
            assert got["failed_attempts"] == sum(r.status != "ok" for r in inside)
            per_client = by_client(ledger, start, end)
            for name in {r.client for r in inside}:
                mine = [r for r in inside if r.client == name]
                assert per_client[name]["attempts"] == len(mine)


def test_rollup_is_backfilled_for_rows_written_before_it_existed(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    only_first = Migrations("ledger")
    only_first(m001_initial)
    only_first.apply(conn)
    conn.execute(
        "INSERT INTO ledger (ts, request_id, attempt, client, tier, model, cache, route_score,"
        " route_reason, prompt_tokens, completion_tokens, cached_tokens, cost_usd, baseline_usd,"
        " latency_ms, status, estimated, stream)"
        " VALUES (?, 'old', 0, 'a', 'cloud', 'm', 'miss', NULL, '', 10, 5, 0, 0.25, 0.5, 9, 'ok',"
        " 0, 0)",
        (NOW - 5 * HOUR,),
    )
    conn.close()
    with Ledger(path) as ledger:
        day = window_stats(ledger, *day_bounds(NOW))
    assert day["requests"] == 1 and day["cost_usd"] == 0.25 and day["baseline_usd"] == 0.5


def test_breakdown_matches_the_separate_queries(ledger: Ledger) -> None:
    start, end = month_bounds(NOW)
    total, tiers, clients = breakdown(ledger, start, end)
    assert total == pytest.approx(window_stats(ledger, start, end))
    assert tiers == by_tier(ledger, start, end)
    assert clients == by_client(ledger, start, end)
