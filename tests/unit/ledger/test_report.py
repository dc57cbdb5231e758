"""The report table and the exports."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest

from appliance.ledger.db import Ledger
from appliance.ledger.prices import PriceTable
from appliance.ledger.report import export_csv, export_dicts, render_report
from appliance.ledger.rows import LedgerRow

NOW = time.mktime((2026, 11, 15, 12, 0, 0, 0, 0, -1))


def _row(request_id: str, **fields: object) -> LedgerRow:
    values: dict[str, object] = dict(
        ts=NOW - 60,
        request_id=request_id,
        client="cl_a",
        tier="local",
        model="smol",
        prompt_tokens=100,
        completion_tokens=50,
        cost_usd=0.0,
        baseline_usd=0.0,
        latency_ms=100.0,
    )
    values.update(fields)
    return LedgerRow(**values)  # type: ignore[arg-type]


@pytest.fixture
def ledger(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Ledger(tmp_path / "ledger.sqlite") as opened:
        opened.record_sync(
            [
                _row("r1", baseline_usd=0.0075, latency_ms=200),
                _row("r2", tier="cache", cache="hit", baseline_usd=0.0075, latency_ms=2),
                _row(
                    "r3",
                    client="cl_b",
                    tier="cloud",
                    model="gpt-4o",
                    cost_usd=0.0025,
                    baseline_usd=0.0025,
                    latency_ms=898,
                    route_score=0.9,
                    estimated=True,
                ),
                _row(
                    "old",
                    ts=time.mktime((2026, 10, 2, 0, 0, 0, 0, 0, -1)),
                    cost_usd=5.0,
                    baseline_usd=5.0,
                ),
            ]
        )
        yield opened


def test_report_shows_before_after_savings_and_mix(ledger: Ledger) -> None:
    text = render_report(ledger, "2026-11", now=NOW, client_names={"cl_a": "alice"})
    lines = text.splitlines()
    assert lines[0].startswith("Appliance report for 2026-11 (2026-11-01 to 2026-11-30")
    total = next(line for line in lines if line.startswith("Total"))
    # 3 requests, before $0.0175, after $0.0025, 85.7% saved, (200+2+898)/3 ms.
    assert total.split() == ["Total", "3", "$0.0175", "$0.0025", "$0.0150", "85.7%", "367", "ms"]
    assert any(line.split()[:3] == ["cache", "1", "33.3%"] for line in lines)
    assert any(line.startswith("alice") for line in lines)
    assert any(line.startswith("cl_b") for line in lines)  # unknown id shown as is
    assert "Cache hit rate   33.3% (1 of 3 cache lookups)" in text
    assert "Estimated        1 rows" in text
    assert "Projected month" in text


def test_report_columns_are_aligned(ledger: Ledger) -> None:
    lines = render_report(ledger, "2026-11", now=NOW).splitlines()
    start = lines.index("Requests by tier") + 1
    table = lines[start : start + 5]  # header, rule, three tiers
    assert len({len(line) for line in table}) == 1
    header = table[0]
    for row in table[2:]:  # right-aligned cells end where their header ends
        assert row[: header.index("Answers") + len("Answers")].endswith(row.split()[1])


def test_past_month_has_no_projection_and_excludes_other_months(ledger: Ledger) -> None:
    text = render_report(ledger, "2026-10", now=NOW, server_monthly_usd=20.0)
    total = next(line for line in text.splitlines() if line.startswith("Total"))
    assert total.split()[1:4] == ["1", "$5.0000", "$5.0000"]
    assert "Projected month" not in text
    assert "Server (fixed)   $20.0000 per month" in text


def test_report_of_an_empty_month(ledger: Ledger) -> None:
    text = render_report(ledger, "2025-01", now=NOW)
    total = next(line for line in text.splitlines() if line.startswith("Total"))
    assert total.split() == ["Total", "0", "$0.0000", "$0.0000", "$0.0000", "0.0%", "0", "ms"]


def test_report_shows_the_price_tables_date_and_warns_when_stale(ledger: Ledger) -> None:
    # NOW is 2026-11-15: a table from 2026-10-01 is 45 days old, one from 2026-08-01 is 106.
    fresh = render_report(ledger, "2026-11", now=NOW, prices=PriceTable({}, date="2026-10-01"))
    assert "Prices           table dated 2026-10-01 (45 days old)\n" in fresh
    assert "WARNING" not in fresh
    stale = render_report(ledger, "2026-11", now=NOW, prices=PriceTable({}, date="2026-08-01"))
    warning = stale.splitlines()[-1]
    assert warning.startswith("WARNING          the price table is 106 days old")
    assert warning.endswith("run `appliance prices update`")


def test_report_rejects_a_bad_month(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        render_report(ledger, "2026/11", now=NOW)


def test_export_dicts_are_json_able_and_filtered(ledger: Ledger) -> None:
    rows = export_dicts(ledger, since=NOW - 3600)
    assert [r["request_id"] for r in rows] == ["r1", "r2", "r3"]
    decoded = json.loads(json.dumps(rows))
    assert decoded[2]["route_score"] == 0.9 and decoded[2]["estimated"] is True


def test_export_csv_round_trips(ledger: Ledger) -> None:
    text = export_csv(ledger, since=NOW - 3600)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["request_id"] for r in rows] == ["r1", "r2", "r3"]
    assert rows[0]["route_score"] == "" and rows[2]["estimated"] == "true"
    assert float(rows[2]["cost_usd"]) == 0.0025
    assert text.splitlines()[0].startswith("ts,request_id,attempt,client,tier,model,cache")
