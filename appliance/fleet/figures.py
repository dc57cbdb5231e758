"""Each box's ledger figures in Redis, and the fleet's totals made from them.

Every box keeps its own SQLite ledger, the durable record. Every `publish_interval_s` it
publishes its month's aggregates (today, month, cache, cost per client: `FleetBox`) to

    P:ledger:M                 hash  box -> FleetBox (JSON), M = "YYYY-MM"

and reads everyone's back. Aggregates rather than rows: a box's figure is absolute, so a
replay after an outage or a restart can never count a request twice, the hash stays a few
KB however busy the fleet is, and a box that left the fleet still counts in its month. The
totals are sums over the boxes (today's only over boxes whose figures are from today).

It must not compute ledger numbers itself (`ledger/aggregates.py` does) nor format for a
screen beyond the plain-text `appliance report --fleet`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import msgspec
import redis

from appliance.admin.messages import FleetBox, Money
from appliance.ledger.aggregates import summarize
from appliance.ledger.db import Ledger

_KEEP_S = 400 * 86_400  # a year of monthly figures, for reports
# A box is online while its figures are younger than this many publish intervals.
_ONLINE_INTERVALS = 3


def ledger_key(prefix: str, month: str) -> str:
    return f"{prefix}:ledger:{month}"


def money(window: dict[str, Any]) -> Money:
    """A window of `ledger.aggregates` as the admin API's `Money`."""
    return Money(
        cost_usd=window["cost_usd"],
        baseline_usd=window["baseline_usd"],
        savings_usd=window["savings_usd"],
        savings_pct=window["savings_pct"],
        requests=window["requests"],
    )


def box_figures(box: str, ledger: Ledger | None, now: float) -> FleetBox:
    """This box's figures from its own ledger (zeros when it has none)."""
    figures = FleetBox(box=box, updated_at=now, day=time.strftime("%Y-%m-%d", time.localtime(now)))
    if ledger is None:
        return figures
    summary = summarize(ledger, now)
    month = summary["month"]
    figures.today, figures.month = money(summary["today"]), money(month)
    figures.cache_hits, figures.cache_lookups = month["cache_hits"], month["cache_lookups"]
    figures.by_client = {k: v["cost_usd"] for k, v in summary["by_client"].items()}
    return figures


def publish(r: redis.Redis, prefix: str, figures: FleetBox) -> None:
    key = ledger_key(prefix, time.strftime("%Y-%m", time.localtime(figures.updated_at)))
    pipe = r.pipeline(transaction=True)
    pipe.hset(key, figures.box, msgspec.json.encode(figures))
    pipe.expire(key, _KEEP_S)
    pipe.execute()


def read_boxes(
    r: redis.Redis, prefix: str, month: str, interval_s: float, now: float
) -> list[FleetBox]:
    """Every box's last figures for `month`, sorted by name, `online` set."""
    boxes = []
    for raw in r.hgetall(ledger_key(prefix, month)).values():
        try:
            box = msgspec.json.decode(raw, type=FleetBox)
        except msgspec.ValidationError:
            continue  # a newer box's figures this version cannot read
        box.online = now - box.updated_at <= _ONLINE_INTERVALS * interval_s
        boxes.append(box)
    return sorted(boxes, key=lambda b: b.box)


def total(windows: Iterable[Money]) -> Money:
    out = Money()
    for window in windows:
        out.cost_usd += window.cost_usd
        out.baseline_usd += window.baseline_usd
        out.savings_usd += window.savings_usd
        out.requests += window.requests
    out.savings_pct = 100.0 * out.savings_usd / out.baseline_usd if out.baseline_usd else 0.0
    return out


def totals(boxes: list[FleetBox], now: float) -> tuple[Money, Money]:
    """(today, month) over the fleet; a box's today counts only if it is from today."""
    today = time.strftime("%Y-%m-%d", time.localtime(now))
    return total(b.today for b in boxes if b.day == today), total(b.month for b in boxes)


def render_fleet(boxes: list[FleetBox], month: str, names: dict[str, str], now: float) -> str:
    """The `appliance report --fleet` text: one line per box, the fleet's total, per client."""
    lines = [f"Fleet report for {month}: {len(boxes)} box(es), from their published figures", ""]
    header = f"{'box':<28} {'requests':>9} {'cost':>12} {'baseline':>12} {'saved':>7} "
    lines += [header + f"{'cache hit':>9}  updated", "-" * (len(header) + 28)]
    for box in boxes:
        rate = box.cache_hits / box.cache_lookups if box.cache_lookups else 0.0
        age = time.strftime("%Y-%m-%d %H:%M", time.localtime(box.updated_at))
        lines.append(_row(box.box, box.month) + f"{rate:>9.1%}  {age}")
    _, month_total = totals(boxes, now)
    lines += ["-" * (len(header) + 28), _row("fleet", month_total).rstrip(), ""]
    clients: dict[str, float] = {}
    for box in boxes:
        for client_id, usd in box.by_client.items():
            clients[client_id] = clients.get(client_id, 0.0) + usd
    if clients:
        lines.append("Cost per client over the fleet:")
        for client_id, usd in sorted(clients.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {names.get(client_id, client_id):<26} ${usd:,.4f}")
    return "\n".join(lines) + "\n"


def _row(name: str, money: Money) -> str:
    cost, baseline = f"${money.cost_usd:,.4f}", f"${money.baseline_usd:,.4f}"
    return f"{name:<28} {money.requests:>9,} {cost:>12} {baseline:>12} {money.savings_pct:>6.1f}% "
