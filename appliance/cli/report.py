"""`appliance report`: the month's cost before (all-frontier baseline) vs after.

`add_commands()` hangs it on the main argparse parser; `func` returns the exit status. It reads
the file a running daemon writes (`<state_dir>/ledger.sqlite`; SQLite's locking makes that
safe) and the key store only for client names. With `--fleet` it reads every box's published
figures from the fleet's Redis instead (`[fleet] redis_url`). No logic beyond arguments and
printing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from appliance.cli import fail
from appliance.config import Config, ConfigError, add_config_option, load_config
from appliance.fleet.figures import read_boxes, render_fleet
from appliance.fleet.link import RedisLink, RedisTrouble, redact
from appliance.ledger.aggregates import parse_month
from appliance.ledger.db import LEDGER_FILE, Ledger, LedgerError
from appliance.ledger.prices import PriceTable
from appliance.ledger.report import render_report
from appliance.security.keys import KEYS_FILE, KeyStore


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = subparsers.add_parser("report", help="monthly cost before vs after, savings")
    report.add_argument("--month", default=None, metavar="YYYY-MM", help="default: this month")
    report.add_argument(
        "--fleet", action="store_true", help="every box of the fleet, from Redis ([fleet])"
    )
    add_config_option(report)
    report.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        prices = PriceTable.for_config(config)
    except ConfigError as exc:
        return fail(str(exc))
    if args.month is not None:
        try:
            parse_month(args.month)  # before any file is created for a typo
        except ValueError as exc:
            return fail(str(exc))
    names: dict[str, str] = {}
    keys_path: Path = config.state_path / KEYS_FILE
    if keys_path.exists():
        store = KeyStore(keys_path)
        try:
            names = {c.id: c.name for c in store.list(include_revoked=True)}
        finally:
            store.close()
    if args.fleet:
        return _fleet_report(config, args.month, names)
    try:
        with Ledger(config.state_path / LEDGER_FILE) as ledger:
            text = render_report(
                ledger,
                args.month,
                server_monthly_usd=config.ledger.server_monthly_usd,
                client_names=names,
                prices=prices,
            )
    except LedgerError as exc:
        return fail(str(exc), 1)
    sys.stdout.write(text)
    return 0


def _fleet_report(config: Config, month: str | None, names: dict[str, str]) -> int:
    if not config.fleet.redis_url:
        return fail("report --fleet: no [fleet] redis_url in the config")
    now = time.time()
    month = month or time.strftime("%Y-%m", time.localtime(now))
    link = RedisLink(config.fleet)
    try:
        interval = config.fleet.publish_interval_s
        boxes = read_boxes(link.slow, config.fleet.key_prefix, month, interval, now)
    except RedisTrouble as exc:
        return fail(f"report --fleet: cannot read Redis at {redact(link.url)}: {exc}", 1)
    finally:
        link.close()
    sys.stdout.write(render_fleet(boxes, month, names, now))
    return 0
