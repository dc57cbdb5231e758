"""Where a price table comes from and how one is written: `read_source` takes a genai-prices
wheel, its `data.py` or JSON, or a table in our own format, or (no file) the genai-prices
package installed here; `compare` says what an update changes; `render_toml` writes ours.

It must not write files or touch the network: `cli/prices.py` writes, atomically.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

import msgspec

from appliance.config import Price
from appliance.ledger import genai_prices
from appliance.ledger.prices import PricesError, TableFile, parse_date, read_table


@dataclass(frozen=True)
class Changes:
    """What an update changes, by table key."""

    added: list[str]
    removed: list[str]
    changed: list[tuple[str, Price, Price]]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def read_source(path: Path | None, *, today: dt.date, date: str | None = None) -> TableFile:
    """The table in `path`, or converted from the installed genai-prices package (`None`).

    `path` may be a genai-prices wheel (.whl), its `data.py`, its JSON, or a table in our own
    format (TOML, or JSON with a "models" object), which keeps the date it carries. Data
    converted from genai-prices is dated `date` (default `today`): the dataset carries none.
    """
    taken = date or today.isoformat()
    parse_date(taken, "--date")
    if path is None:
        return genai_prices.from_installed(taken)
    if not path.is_file():
        raise PricesError(f"prices: {path}: no such file")
    if path.suffix == ".whl":
        return genai_prices.from_wheel(path, taken)
    if path.suffix == ".py":
        return genai_prices.from_data_py(path, taken)
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise PricesError(f"prices: {path}: {exc}") from None
        if isinstance(data, list):  # the dataset's own JSON: a list of providers
            return genai_prices.convert(data, date=taken, version="")
    elif path.suffix != ".toml":
        raise PricesError(
            f"prices: {path}: expected a genai-prices wheel (.whl), data.py or JSON, "
            "or a price table (.toml or .json)"
        )
    table = read_table(path)
    return table if date is None else msgspec.structs.replace(table, date=taken)


# -- comparing and writing -------------------------------------------------------------------


def compare(old: TableFile, new: TableFile) -> Changes:
    return Changes(
        added=[key for key in new.models if key not in old.models],
        removed=[key for key in old.models if key not in new.models],
        changed=[
            (key, old.models[key], price)
            for key, price in new.models.items()
            if key in old.models and old.models[key] != price
        ],
    )


def is_older(new: TableFile, old: TableFile) -> bool:
    """Whether `new` is an older release of the same dataset than `old` (unknown: False)."""
    if not new.dataset or new.dataset != old.dataset:
        return False
    try:
        return _version(new.dataset_version) < _version(old.dataset_version)
    except ValueError:
        return False


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def render_toml(table: TableFile, header: str = "") -> str:
    """The table as TOML that `read_table` reads back equal; `header` becomes comments, and
    a table converted from genai-prices carries the dataset's licence notice."""
    if table.dataset == genai_prices.DATASET:
        header = f"{header}\n\n{genai_prices.DATASET_NOTICE}".strip()
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    if lines:
        lines.append("")
    for key in ("date", "source", "dataset", "dataset_version"):
        value = getattr(table, key)
        if value or key in ("date", "source"):
            lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    lines += ["", "[models]"]
    for name, price in table.models.items():
        fields = [f"input = {price.input!r}", f"output = {price.output!r}"]
        if price.cached_input is not None:
            fields.append(f"cached_input = {price.cached_input!r}")
        lines.append(f"{json.dumps(name, ensure_ascii=False)} = {{ {', '.join(fields)} }}")
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # what we write must read back; fail here, not in the daemon
    return text
