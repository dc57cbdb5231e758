"""`appliance keys add|list|revoke`: the operator's client-key commands.

`add_commands()` hangs them on the main argparse parser; each sets `func`, which `__main__`
calls with the parsed namespace and whose int is the exit status. They work on the files a
running daemon uses (`<state_dir>/keys.sqlite`, and the ledger for this month's spend);
SQLite's locking makes that safe, and the daemon notices key changes within a second or two.
No logic beyond argument handling and printing.
"""

from __future__ import annotations

import argparse
import sys
import time

from appliance.cli import fail
from appliance.config import ConfigError, add_config_option, load_config
from appliance.ledger.aggregates import month_bounds, month_spend_by_client
from appliance.ledger.db import LEDGER_FILE, Ledger
from appliance.security.keys import KeyStore


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
    add.add_argument(
        "--refresh-shared",
        action="store_true",
        help="let Cache-Control: no-cache replace answers others in its namespace see",
    )
    add_config_option(add)
    add.set_defaults(func=_keys_add)

    listing = keys_sub.add_parser("list", help="list active client keys and spend this month")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    add_config_option(listing)
    listing.set_defaults(func=_keys_list)

    revoke = keys_sub.add_parser("revoke", help="revoke a client key by name or id")
    revoke.add_argument("name_or_id")
    add_config_option(revoke)
    revoke.set_defaults(func=_keys_revoke)


def _keys_add(args: argparse.Namespace) -> int:
    try:
        store = KeyStore.open(load_config(args.config).state_path)
    except ConfigError as exc:
        return fail(str(exc))
    try:
        client, key = store.add(
            args.name,
            namespace=args.namespace,
            budget=args.budget,
            max_tokens=args.max_tokens,
            refresh_shared=args.refresh_shared,
        )
    except ValueError as exc:
        return fail(str(exc), 1)
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
        config = load_config(args.config)
    except ConfigError as exc:
        return fail(str(exc))
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
        store = KeyStore.open(load_config(args.config).state_path)
    except ConfigError as exc:
        return fail(str(exc))
    try:
        revoked = store.revoke(args.name_or_id)
    finally:
        store.close()
    if not revoked:
        return fail(f"keys: no active client named or with id {args.name_or_id!r}", 1)
    print(f"revoked {args.name_or_id}")
    return 0
