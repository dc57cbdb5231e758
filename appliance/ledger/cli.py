"""The operator's ledger and key commands: `appliance keys add|list|revoke` and `appliance
report`. `add_commands()` hangs them on the main argparse parser; each sets `func`, which
`__main__` calls with the parsed namespace and whose int is the exit status.

They work on the files a running daemon uses (`<state_dir>/ledger.sqlite`, `keys.sqlite`);
SQLite's locking makes that safe, and the daemon notices key changes within a second or two.
This module must not hold logic of its own beyond argument handling and printing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from appliance.config import Config, ConfigError, load_config
from appliance.ledger.aggregates import month_bounds, month_spend_by_client, parse_month
from appliance.ledger.db import Ledger, LedgerError
from appliance.ledger.prices import PriceTable
from appliance.ledger.report import render_report
from appliance.security import KEYS_FILE, KeyStore

LEDGER_FILE = "ledger.sqlite"


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = subparsers.add_parser("keys", help="create, list and revoke client API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="{add,list,revoke}")
    keys_sub.required = True

    add = keys_sub.add_parser(
        "add", help="create a client key (the key alone goes to stdout, shown once)"
    )
    add.add_argument("name", help="client name, unique among active keys")
    add.add_argument(
        "--namespace",
        default="shared",
        help="cache namespace: shared (default), private (its own), or a name to share",
    )
    add.add_argument("--budget", type=float, default=None, metavar="USD", help="monthly budget")
    add.add_argument(
        "--max-tokens", type=int, default=None, metavar="N", help="cap on max_tokens per request"
    )
    _config_option(add)
    add.set_defaults(func=_keys_add)

    listing = keys_sub.add_parser("list", help="list active client keys and spend this month")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    _config_option(listing)
    listing.set_defaults(func=_keys_list)

    revoke = keys_sub.add_parser("revoke", help="revoke a client key by name or id")
    revoke.add_argument("name_or_id")
    _config_option(revoke)
    revoke.set_defaults(func=_keys_revoke)

    report = subparsers.add_parser("report", help="monthly cost before vs after, savings")
    report.add_argument("--month", default=None, metavar="YYYY-MM", help="default: this month")
    _config_option(report)
    report.set_defaults(func=_report)


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", default=None, metavar="PATH", help="config file (default: $APPLIANCE_CONFIG)"
    )


def _fail(message: str, status: int = 2) -> int:
    print(f"appliance: {message}", file=sys.stderr)
    return status


def _load(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def _keys_add(args: argparse.Namespace) -> int:
    try:
        store = KeyStore.open(_load(args).state_path)
    except ConfigError as exc:
        return _fail(str(exc))
    try:
        client, key = store.add(
            args.name, namespace=args.namespace, budget=args.budget, max_tokens=args.max_tokens
        )
    except ValueError as exc:
        return _fail(str(exc), 1)
    finally:
        store.close()
    budget = "none" if client.budget_usd_month is None else f"${client.budget_usd_month:,.2f}/month"
    print(
        f"created client {client.name!r} (id {client.id}, namespace {client.namespace}, "
        f"budget {budget}); the key below is shown only once:",
        file=sys.stderr,
    )
    print(key)
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    try:
        config = _load(args)
    except ConfigError as exc:
        return _fail(str(exc))
    store = KeyStore.open(config.state_path)
    try:
        clients = store.list(include_revoked=args.all)
    finally:
        store.close()
    spent: dict[str, float] = {}
    ledger_path = config.state_path / LEDGER_FILE
    if ledger_path.exists():
        with Ledger(ledger_path) as ledger:
            spent = month_spend_by_client(ledger, month_bounds(time.time())[0])
    if not clients:
        print("no client keys (the API accepts requests without a key until one is added)")
        return 0
    rows = [["ID", "NAME", "NAMESPACE", "BUDGET/MONTH", "SPENT (MONTH)", "KEY", "CREATED"]]
    for c in clients:
        rows.append(
            [
                c.id,
                c.name + (" (revoked)" if c.revoked_at is not None else ""),
                c.namespace,
                "-" if c.budget_usd_month is None else f"${c.budget_usd_month:,.2f}",
                f"${spent.get(c.id, 0.0):,.4f}",
                c.key_prefix + "...",
                time.strftime("%Y-%m-%d %H:%M", time.localtime(c.created_at)),
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    try:
        store = KeyStore.open(_load(args).state_path)
    except ConfigError as exc:
        return _fail(str(exc))
    try:
        revoked = store.revoke(args.name_or_id)
    finally:
        store.close()
    if not revoked:
        return _fail(f"keys: no active client named or with id {args.name_or_id!r}", 1)
    print(f"revoked {args.name_or_id}")
    return 0


def _report(args: argparse.Namespace) -> int:
    try:
        config = _load(args)
        prices = PriceTable.for_config(config)
    except ConfigError as exc:
        return _fail(str(exc))
    if args.month is not None:
        try:
            parse_month(args.month)  # before any file is created for a typo
        except ValueError as exc:
            return _fail(str(exc))
    names: dict[str, str] = {}
    keys_path: Path = config.state_path / KEYS_FILE
    if keys_path.exists():
        store = KeyStore(keys_path)
        try:
            names = {c.id: c.name for c in store.list(include_revoked=True)}
        finally:
            store.close()
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
        return _fail(str(exc), 1)
    sys.stdout.write(text)
    return 0
