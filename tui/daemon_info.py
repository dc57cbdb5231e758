"""Fields of `/admin/stats` that only newer daemons send: the daemon's version and its price
table's date and staleness. Read defensively, so the panel works against an older daemon
(absent -> not shown) and needs no change when the admin types gain them."""

from __future__ import annotations

import datetime as dt

from appliance.admin.messages import Stats


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
