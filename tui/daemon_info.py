"""Fields of `/admin/stats` that only newer daemons send: the daemon's version, its price
table's date and staleness, and its fleet. Read defensively, so the panel works against an
older daemon (absent -> not shown) and needs no change when the admin types gain them."""

from __future__ import annotations

import datetime as dt

from appliance.admin.messages import FleetStats, Stats
from tui.units import money


def _text(stats: Stats, name: str) -> str:
    value = getattr(stats, name, "")
    return value if isinstance(value, str) else ""


def daemon_version(stats: Stats) -> str:
    return _text(stats, "version")


def prices_line(stats: Stats) -> tuple[str, bool]:
    """(the price table line(s) for the spend panel, stale?); ("", False) when not sent.

    The daemon decides staleness (`prices_stale`, its 60-day rule); the age is counted from
    the stats' own timestamp, so a recorded or remote panel reads the daemon's clock."""
    date = _text(stats, "prices_date")
    if not date:
        return "", False
    try:
        age = (dt.date.fromtimestamp(stats.time) - dt.date.fromisoformat(date)).days
    except ValueError:
        return f"prices dated {date}", False
    stale = getattr(stats, "prices_stale", False) is True
    if stale:
        return f"prices dated {date}: {age} days old!\nrun `appliance prices update`", True
    return f"prices dated {date} ({age} days old)", False


def _fleet(stats: Stats) -> FleetStats | None:
    fleet = getattr(stats, "fleet", None)
    return fleet if isinstance(fleet, FleetStats) else None


def fleet_totals_line(stats: Stats) -> str:
    """The fleet's spend for the spend panel; "" on a single box."""
    fleet = _fleet(stats)
    if fleet is None:
        return ""
    online = sum(1 for box in fleet.boxes if box.online)
    return (
        f"fleet {online}/{len(fleet.boxes)} online: today {money(fleet.today.cost_usd)}"
        f" · month {money(fleet.month.cost_usd)}"
    )


def fleet_link_line(stats: Stats) -> tuple[str, bool]:
    """(this box's link to the fleet, healthy?) for the system panel; ("", True) alone.
    Short: the panel is a third of the screen; the full reason is in /admin/stats."""
    fleet = _fleet(stats)
    if fleet is None:
        return "", True
    if fleet.redis != "up":
        return f"Redis down, {fleet.queued_writes:,} queued", False
    lag = "" if fleet.lag_p50_ms is None else f", lag {fleet.lag_p50_ms:.1f} ms"
    return f"Redis up{lag}", True
