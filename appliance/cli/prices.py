"""`appliance prices show [PATTERN]` and `appliance prices update [FILE]`.

`update` reads a newer price table offline (an installed or downloaded genai-prices, its
JSON, or a table file), prints what changed, and writes it atomically to
`<state_dir>/prices.toml`; the shipped snapshot in the package stays untouched. `--output`
writes elsewhere instead, which is how the shipped snapshot itself is regenerated.
This module holds argument handling, printing and the file write; the rules live in
`prices` (lookup, age) and `price_sources` (reading, converting, comparing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from appliance.cli import fail
from appliance.config import Config, ConfigError, Price, add_config_option, load_config
from appliance.ledger.price_sources import (
    Changes,
    compare,
    is_older,
    read_source,
    render_toml,
)
from appliance.ledger.prices import (
    STATE_FILE,
    PriceTable,
    TableFile,
    current_table,
    read_table,
)

_LISTED = 20  # added/removed names printed before "… and N more"

HEADER = """\
Price table: USD per 1M tokens, per model name as the provider's API spells it.
Written by `appliance prices update` from the source below: regenerate it, don't edit it.
Your own prices go in the config, [ledger.prices."model-name"] or tiers[].price, and win
over this file; a whole table you keep yourself: `appliance prices update my-prices.toml`.
cached_input: prompt tokens read from the provider's prompt cache; absent: billed at input.
Lookup: exact name, then case-insensitive, then the longest key that is a prefix of the name
at a separator (- : @ / _), then the same on the part after the last "/".
The shipped copy (appliance/ledger/prices.toml) is regenerated with
  pip download genai-prices --no-deps -d /tmp/gp
  appliance prices update /tmp/gp/genai_prices-*.whl --output appliance/ledger/prices.toml"""


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prices = subparsers.add_parser("prices", help="show or update the model price table")
    sub = prices.add_subparsers(dest="prices_command", metavar="{show,update}")
    sub.required = True

    show = sub.add_parser("show", help="the table in use, its date, and what each tier bills")
    show.add_argument("pattern", nargs="?", default="", help="only models containing this")
    add_config_option(show)
    show.set_defaults(func=_show)

    update = sub.add_parser(
        "update", help="refresh the table offline from genai-prices or a file, atomically"
    )
    update.add_argument(
        "file",
        nargs="?",
        type=Path,
        default=None,
        help="a genai-prices wheel (.whl), its data.py or JSON, or a price table (.toml/.json); "
        "default: the genai-prices package installed here",
    )
    update.add_argument(
        "--date",
        default=None,
        metavar="YYYY-MM-DD",
        help="the day the prices are from (default: the table's own date, else today)",
    )
    update.add_argument(
        "--output",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"write here instead of <state_dir>/{STATE_FILE}",
    )
    update.add_argument(
        "--force",
        action="store_true",
        help="write even an older genai-prices than the table in use, or an unchanged one",
    )
    update.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
    add_config_option(update)
    update.set_defaults(func=_update)


# -- show ------------------------------------------------------------------------------------


def _show(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        table = PriceTable.for_config(config)
    except ConfigError as exc:
        return fail(str(exc))
    print("\n".join(describe(table, config, dt.date.today(), args.pattern)))
    return 0


def describe(table: PriceTable, config: Config, today: dt.date, pattern: str = "") -> list[str]:
    """`prices show`: the table's date and origin, each tier's price and why, the models."""
    age = table.age_days(today)
    origin = str(table.path) if table.path else "shipped with the appliance"
    out = [f"Price table dated {table.date} ({age} days old), {origin}"]
    warning = table.stale_warning(today)
    if warning:
        out.append(f"WARNING: {warning}")
    out += [f"Source: {table.source}", ""]
    out += _columns(
        ["Tier", "Model", "Input", "Output", "Cached", "Priced by"],
        [
            [tier.name, tier.model or tier.name, *_rates(price), why]
            for tier in config.tiers
            for price, why in [table.pricing_for_tier(tier)]
        ],
    )
    names = [n for n in table.prices if pattern.lower() in n.lower()]
    overridden = "; * = your config's [ledger.prices]" if table.overrides else ""
    out += ["", f"{len(names):,} of {len(table.prices):,} models, USD per 1M tokens{overridden}"]
    out += _columns(
        ["Model", "Input", "Output", "Cached"],
        [
            [name + (" *" if name in table.overrides else ""), *_rates(table.prices[name])]
            for name in names
        ],
    )
    return out


def _rates(price: Price) -> list[str]:
    cached = "-" if price.cached_input is None else f"{price.cached_input:g}"
    return [f"{price.input:g}", f"{price.output:g}", cached]


def _columns(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]


# -- update ----------------------------------------------------------------------------------


def _update(args: argparse.Namespace) -> int:
    try:
        config = None if args.output else load_config(args.config)
        if args.output is not None:
            target: Path = args.output
            old = read_table(target) if target.exists() else current_table(None)[0]
        else:
            assert config is not None
            target = (config.state_path / STATE_FILE).absolute()  # say where, plainly
            old = current_table(config.state_path)[0]
        what = args.file or "the installed genai-prices package"
        print(f"reading {what} ...", file=sys.stderr, flush=True)
        new = read_source(args.file, today=dt.date.today(), date=args.date)
    except ConfigError as exc:
        return fail(str(exc))
    if is_older(new, old) and not args.force:
        return fail(
            f"prices: {_label(new)} is older than the table in use ({_label(old)}); "
            "nothing written (--force to use it anyway)",
            1,
        )
    changes = compare(old, new)
    print(f"{_label(old)} -> {_label(new)}")
    print("\n".join(_changes(changes)))
    for line in _tier_changes(config, old, new) if config is not None else []:
        print(line)
    same = new.dataset and (new.dataset, new.dataset_version) == (old.dataset, old.dataset_version)
    if not changes and same and not args.force:
        print(f"prices already up to date: {_label(old)}; nothing written")
        return 0
    if args.dry_run:
        print(f"dry run: would write {target} ({_summary(changes, new)})")
        return 0
    print(f"writing {target} ...", file=sys.stderr, flush=True)
    try:
        write_atomically(target, render_toml(new, HEADER))
    except OSError as exc:
        return fail(f"prices: {target}: {exc}", 1)
    restart = " Restart the appliance to bill with it." if config is not None else ""
    print(f"prices updated: {target} ({_summary(changes, new)}).{restart}")
    return 0


def _label(table: TableFile) -> str:
    name = f"{table.dataset} {table.dataset_version}".strip() or "price table"
    return f"{name} dated {table.date}"


def _summary(changes: Changes, table: TableFile) -> str:
    return (
        f"{_label(table)}, {len(table.models):,} models: {len(changes.changed):,} changed, "
        f"{len(changes.added):,} added, {len(changes.removed):,} removed"
    )


def _changes(changes: Changes) -> list[str]:
    if not changes:
        return ["no price changed"]
    out = [f"changed ({len(changes.changed)}):"] if changes.changed else []
    width = max((len(key) for key, _, _ in changes.changed), default=0)
    for key, before, after in changes.changed:
        out.append(f"  {key.ljust(width)}  {_diff(before, after)}")
    for heading, names in (("added", changes.added), ("removed", changes.removed)):
        if names:
            more = f" ... and {len(names) - _LISTED:,} more" if len(names) > _LISTED else ""
            out.append(f"{heading} ({len(names):,}): {', '.join(names[:_LISTED])}{more}")
    return out


def _diff(before: Price, after: Price) -> str:
    parts = []
    for field in ("input", "output", "cached_input"):
        old, new = getattr(before, field), getattr(after, field)
        if old != new:
            parts.append(f"{field} {_rate(old)} -> {_rate(new)}")
    return ", ".join(parts)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _tier_changes(config: Config, old: TableFile, new: TableFile) -> list[str]:
    """How this box's own tiers bill after the update; config overrides keep winning."""
    overrides = config.ledger.prices
    before, after = (PriceTable(prices={**t.models, **overrides}) for t in (old, new))
    out = []
    for tier in config.tiers:
        was, now = before.price_for_tier(tier), after.price_for_tier(tier)
        if was != now:
            out.append(f"tier {tier.name} ({tier.model or tier.name}): {_diff(was, now)}")
    return out


def write_atomically(path: Path, text: str) -> None:
    """Write, fsync, rename: a reader sees the old table or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(0o644)  # the daemon's user reads what root wrote
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
