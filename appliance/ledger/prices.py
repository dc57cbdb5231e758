"""Model prices: which `Price` applies to a model name, and what a token count costs.

It owns the price table the daemon bills with: the shipped snapshot (`prices.toml`, a dated
conversion of the open genai-prices dataset, read offline), or a newer one that
`appliance prices update` wrote to `<state_dir>/prices.toml`, with the operator's overrides on
top; the name-matching rules; the table's age; and the one cost formula. It must not read the
network or guess a price for an unknown model: an unknown model prices as `None`, and the caller
decides (`price_for_tier` treats it as free and `unpriced_tiers` lets start-up warn).

The cost formula exists because the best-known gateway bills cached prompt tokens twice
(once as input, once as cached input). Here cached tokens are a *subset* of the prompt tokens,
as every provider reports them: the uncached part is billed at `input`, the cached part at
`cached_input` (or `input` when the provider gives no discount), never both.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import msgspec

from appliance.config import Config, ConfigError, Price, TierConfig

SHIPPED_FILE = "prices.toml"
# Where `appliance prices update` puts a refreshed table, inside the state dir.
STATE_FILE = "prices.toml"
# Prices change monthly; past this a table's savings figures deserve a warning.
STALE_AFTER_DAYS = 60
# A prefix only matches at one of these, so "o3" never prices "o3x" and "gpt-4" never
# prices "gpt-4.1-…" ("." is deliberately not a separator).
SEPARATORS = frozenset("-:@/_")
# Backends that run on hardware the operator already pays for: 0 per token.
_LOCAL_BACKENDS = frozenset({"llamacpp", "vllm"})

FREE = Price(input=0.0, output=0.0, cached_input=0.0)


class PricesError(ConfigError):
    """A price table or source cannot be read; the message names the file."""


class TableFile(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A price table file: the shipped one, an updated one, or one an operator keeps.

    `date` is the day the prices were taken ("YYYY-MM-DD"); `dataset`/`dataset_version` name
    the open dataset it was converted from, so an update can refuse to go backwards.
    """

    date: str
    source: str
    models: dict[str, Price]
    dataset: str = ""
    dataset_version: str = ""


def read_table(path: Path) -> TableFile:
    """A table file in our format, TOML or JSON by suffix. Errors name the file and the key."""
    try:
        raw = path.read_bytes()
        data = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode("utf-8"))
        table = msgspec.convert(data, TableFile, strict=True)
    except (OSError, ValueError, msgspec.ValidationError) as exc:
        raise PricesError(f"prices: {path}: {exc}") from None
    parse_date(table.date, path)
    return table


def parse_date(text: str, where: object = "prices") -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise PricesError(f"prices: {where}: date: expected YYYY-MM-DD, got {text!r}") from None


def shipped_table() -> TableFile:
    ref = resources.files("appliance.ledger").joinpath(SHIPPED_FILE)
    with resources.as_file(ref) as path:
        return read_table(path)


def current_table(state_dir: Path | None) -> tuple[TableFile, Path | None]:
    """The table to bill with and the updated file it came from (None: the shipped one).

    The newer of the two by date wins, so an appliance upgrade that ships a fresher
    snapshot is not shadowed by an old `prices update` left in the state dir.
    """
    shipped = shipped_table()
    path = state_dir / STATE_FILE if state_dir is not None else None
    if path is None or not path.exists():
        return shipped, None
    updated = read_table(path)
    if parse_date(updated.date) >= parse_date(shipped.date):
        return updated, path
    return shipped, None


def age_days(table_date: str, today: dt.date) -> int:
    return (today - parse_date(table_date)).days


def cost(price: Price, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
    """USD for one call. `cached_tokens` is the part of `prompt_tokens` read from cache.

    A backend that reports more cached than prompt tokens is clamped rather than trusted,
    so a bad usage block can never make the bill negative or double it.
    """
    prompt = max(prompt_tokens, 0)
    cached = min(max(cached_tokens, 0), prompt)
    cached_rate = price.input if price.cached_input is None else price.cached_input
    total = (
        (prompt - cached) * price.input
        + cached * cached_rate
        + max(completion_tokens, 0) * price.output
    )
    return total / 1_000_000


@dataclass(frozen=True)
class PriceTable:
    """The merged table. Build it with `PriceTable.load(config.ledger.prices)`."""

    prices: dict[str, Price]
    date: str = ""
    source: str = ""
    # The `prices update` file this table came from; None for the shipped snapshot.
    path: Path | None = None
    # Keys whose entry is the operator's (config `[ledger.prices]`), not the table's.
    overrides: frozenset[str] = frozenset()
    _lower: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self._lower:
            self._lower.update({name.lower(): name for name in self.prices})

    @classmethod
    def load(
        cls, overrides: dict[str, Price] | None = None, state_dir: Path | None = None
    ) -> PriceTable:
        """The current table (see `current_table`) with `overrides` (whole entries) on top.
        Reads no network; without `state_dir` only the shipped snapshot is considered."""
        table, path = current_table(state_dir)
        merged = dict(table.models)
        merged.update(overrides or {})
        return cls(
            prices=merged,
            date=table.date,
            source=table.source,
            path=path,
            overrides=frozenset(overrides or ()),
        )

    @classmethod
    def for_config(cls, config: Config) -> PriceTable:
        return cls.load(config.ledger.prices, config.state_path)

    def age_days(self, today: dt.date) -> int:
        return age_days(self.date, today)

    def is_stale(self, today: dt.date) -> bool:
        """Older than `STALE_AFTER_DAYS`: the report, `prices show` and the TUI warn."""
        return self.age_days(today) > STALE_AFTER_DAYS

    def stale_warning(self, today: dt.date) -> str | None:
        """What `appliance report` and `prices show` say about a stale table, else None."""
        if not self.is_stale(today):
            return None
        return (
            f"the price table is {self.age_days(today)} days old (dated {self.date}; warned "
            f"past {STALE_AFTER_DAYS} days): costs and savings may be wrong; "
            "run `appliance prices update`"
        )

    cost = staticmethod(cost)

    def price_for(self, model: str) -> Price | None:
        key = self.key_for(model)
        return None if key is None else self.prices[key]

    def key_for(self, model: str) -> str | None:
        """The table entry that prices `model`: exact name, then case-insensitive, then
        longest prefix at a separator.

        If none of those match and the name has a provider path ("openrouter/openai/gpt-4o"),
        the same rules are tried on the part after the last "/".
        """
        found = self._match(model)
        if found is None and "/" in model:
            found = self._match(model.rsplit("/", 1)[1])
        return found

    def _match(self, model: str) -> str | None:
        if not model:
            return None
        if model in self.prices:
            return model
        lower = model.lower()
        name = self._lower.get(lower)
        if name is not None:
            return name
        best = ""
        for key in self._lower:
            if (
                len(key) > len(best)
                and len(lower) > len(key)
                and lower.startswith(key)
                and lower[len(key)] in SEPARATORS
            ):
                best = key
        return self._lower[best] if best else None

    def price_for_tier(self, tier: TierConfig) -> Price:
        """The tier's own price, else 0 for local backends, else the table, else 0.

        Local tiers (llama.cpp, vLLM) cost nothing per token; their fixed server cost is
        `ledger.server_monthly_usd`, shown apart. An `openai` tier whose model is not in the
        table also prices at 0 (it is usually a LAN llama.cpp/vLLM server); start-up should
        warn with `unpriced_tiers` so a cloud model missing from the table is noticed.
        """
        return self.pricing_for_tier(tier)[0]

    def pricing_for_tier(self, tier: TierConfig) -> tuple[Price, str]:
        """`price_for_tier` and, in words, where that price comes from."""
        if tier.price is not None:
            return tier.price, "the tier's own price (config)"
        if tier.backend in _LOCAL_BACKENDS:
            return FREE, f"free: {tier.backend} runs on this box"
        key = self.key_for(tier.model or tier.name)
        if key is None:
            return FREE, "UNPRICED: no table entry, billed as free"
        if key in self.overrides:
            return self.prices[key], f"config [ledger.prices.{key!r}]"
        return self.prices[key], f"table {key!r}"

    def unpriced_tiers(self, config: Config) -> list[str]:
        """Names of remote tiers with no configured price and no table entry."""
        return [
            tier.name
            for tier in config.tiers
            if tier.price is None
            and tier.backend not in _LOCAL_BACKENDS
            and self.price_for(tier.model or tier.name) is None
        ]


def baseline_tier(config: Config) -> TierConfig:
    """The tier whose prices define "what it would have cost": `ledger.baseline_tier`, else
    the last (most capable) tier."""
    if config.ledger.baseline_tier:
        return config.tier(config.ledger.baseline_tier)
    return config.tiers[-1]
