"""Ledger output for people and spreadsheets: the monthly report table and row exports.

It owns layout only: every number comes from `aggregates` (so the report, the admin API and
the TUI can never disagree) and every row from `Ledger.rows`. It must not query SQL itself.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from collections.abc import Sequence
from typing import Any

from appliance.ledger import aggregates
from appliance.ledger.db import Ledger
from appliance.ledger.prices import PriceTable
from appliance.ledger.rows import FIELDS


def _usd(value: float) -> str:
    # Small amounts matter here (a cheap request costs fractions of a cent), so 4 decimals
    # until the number is big enough for cents to be the interesting digit.
    sign = "-" if value < 0 else ""
    value = abs(value)
    return f"{sign}${value:,.2f}" if value >= 1000 else f"{sign}${value:,.4f}"


def _pct(value: float) -> str:
    return f"{value:.1f}%"


def _ms(value: float) -> str:
    return f"{value:,.0f} ms"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """First column left-aligned, the rest right-aligned, two spaces between columns."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(w) for cell, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def render_report(
    ledger: Ledger,
    month: str | None = None,
    *,
    now: float | None = None,
    server_monthly_usd: float = 0.0,
    client_names: dict[str, str] | None = None,
    prices: PriceTable | None = None,
) -> str:
    """The `appliance report` text for `month` ("YYYY-MM"; default: the current month).

    `client_names` maps the ledger's client ids to names for display. The projection line
    appears only for the current month, where it means something. `prices`, the table new
    requests are billed with, adds its date, and a warning when it is stale: savings are the
    number the appliance is bought for, and a months-old table gets them wrong.
    """
    now = time.time() if now is None else now
    if month is None:
        month = time.strftime("%Y-%m", time.localtime(now))
    start, end = aggregates.parse_month(month)
    total, tiers, clients = aggregates.breakdown(ledger, start, end)
    mix = aggregates.tier_mix(tiers)
    names = client_names or {}
    last_day = time.strftime("%Y-%m-%d", time.localtime(end - 1))

    out = [
        f"Appliance report for {month} ({time.strftime('%Y-%m-%d', time.localtime(start))}"
        f" to {last_day}, local time)",
        "",
    ]
    out += _table(
        ["", "Requests", "Cost before", "Cost after", "Savings", "Savings %", "Avg latency"],
        [
            [
                "Total",
                f"{total['requests']:,}",
                _usd(total["baseline_usd"]),
                _usd(total["cost_usd"]),
                _usd(total["savings_usd"]),
                _pct(total["savings_pct"]),
                _ms(total["avg_latency_ms"]),
            ]
        ],
    )
    out += ["", "Requests by tier"]
    out += _table(
        [
            "Tier",
            "Answers",
            "Share",
            "Attempts",
            "Tokens in",
            "Tokens out",
            "Cost after",
            "Cost before",
            "Avg latency",
        ],
        [
            [
                name,
                f"{t['answers']:,}",
                _pct(100 * mix[name]),
                f"{t['attempts']:,}",
                f"{t['prompt_tokens']:,}",
                f"{t['completion_tokens']:,}",
                _usd(t["cost_usd"]),
                _usd(t["baseline_usd"]),
                _ms(t["avg_attempt_latency_ms"]),
            ]
            for name, t in tiers.items()
        ],
    )
    out += ["", "By client"]
    out += _table(
        ["Client", "Requests", "Cost before", "Cost after", "Savings %", "Cache hits"],
        [
            [
                names.get(cid, cid) or "(anonymous)",
                f"{c['requests']:,}",
                _usd(c["baseline_usd"]),
                _usd(c["cost_usd"]),
                _pct(c["savings_pct"]),
                _pct(100 * c["cache_hit_rate"]),
            ]
            for cid, c in clients.items()
        ],
    )
    out += [
        "",
        f"Cache hit rate   {_pct(100 * total['cache_hit_rate'])} "
        f"({total['cache_hits']:,} of {total['cache_lookups']:,} cache lookups)",
        f"Escalated        {total['escalations']:,} of {total['requests']:,} requests "
        f"({total['failed_attempts']:,} failed attempts)",
    ]
    if total["estimated_rows"]:
        out.append(
            f"Estimated        {total['estimated_rows']:,} rows with token counts estimated "
            "(backend sent no usage)"
        )
    net = total["savings_usd"]
    if start <= now < end:
        proj = aggregates.projection(ledger, now, total)
        net = proj["savings_usd"]
        out.append(
            f"Projected month  {_usd(proj['cost_usd'])} after vs {_usd(proj['baseline_usd'])} "
            f"before ({_pct(proj['savings_pct'])} saved; trailing "
            f"{proj['trailing_days']:.1f}-day rate)"
        )
    if server_monthly_usd:
        out.append(
            f"Server (fixed)   {_usd(server_monthly_usd)} per month, not included above; "
            f"savings net of it {_usd(net - server_monthly_usd)} for the month"
        )
    if prices is not None:
        out += _prices_lines(prices, dt.date.fromtimestamp(now))
    return "\n".join(out) + "\n"


def _prices_lines(prices: PriceTable, today: dt.date) -> list[str]:
    lines = [f"Prices           table dated {prices.date} ({prices.age_days(today)} days old)"]
    warning = prices.stale_warning(today)
    if warning:
        lines.append(f"WARNING          {warning}")
    return lines


def export_dicts(
    ledger: Ledger, since: float | None = None, until: float | None = None
) -> list[dict[str, Any]]:
    """Rows with `since <= ts < until` as JSON-able dicts, oldest first."""
    return [row.to_dict() for row in ledger.rows(since=since, until=until)]


def export_csv(ledger: Ledger, since: float | None = None, until: float | None = None) -> str:
    """The same rows as CSV text with a header; booleans as true/false, None as empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FIELDS)
    for row in ledger.rows(since=since, until=until):
        writer.writerow(
            [
                ("true" if v else "false") if isinstance(v, bool) else ("" if v is None else v)
                for v in row.to_dict().values()
            ]
        )
    return buffer.getvalue()
