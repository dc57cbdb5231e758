"""Model prices: which `Price` applies to a model name, and what a token count costs.

It owns the shipped, pinned table (`prices.toml`, dated, read offline) merged with the
operator's overrides, the name-matching rules, and the one cost formula. It must not read
the network or guess a price for an unknown model: an unknown model prices as `None`, and the
caller decides (`price_for_tier` treats it as free and `unpriced_tiers` lets start-up warn).

The cost formula exists because the best-known gateway bills cached prompt tokens twice
(once as input, once as cached input). Here cached tokens are a *subset* of the prompt tokens,
as every provider reports them: the uncached part is billed at `input`, the cached part at
`cached_input` (or `input` when the provider gives no discount), never both.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources

import msgspec

from appliance.config import Config, Price, TierConfig

_TABLE_FILE = "prices.toml"
# A prefix only matches at one of these, so "o3" never prices "o3x" and "gpt-4" never
# prices "gpt-4.1-…" ("." is deliberately not a separator).
_SEPARATORS = frozenset("-:@/_")
# Backends that run on hardware the operator already pays for: 0 per token.
_LOCAL_BACKENDS = frozenset({"llamacpp", "vllm"})

FREE = Price(input=0.0, output=0.0, cached_input=0.0)


class _TableFile(msgspec.Struct, forbid_unknown_fields=True):
    date: str
    source: str
    models: dict[str, Price]


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
    _lower: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self._lower:
            self._lower.update({name.lower(): name for name in self.prices})

    @classmethod
    def load(cls, overrides: dict[str, Price] | None = None) -> PriceTable:
        """The shipped table with `overrides` (whole entries) on top; reads no network."""
        text = resources.files("appliance.ledger").joinpath(_TABLE_FILE).read_text("utf-8")
        shipped = msgspec.convert(tomllib.loads(text), _TableFile, strict=True)
        merged = dict(shipped.models)
        merged.update(overrides or {})
        return cls(prices=merged, date=shipped.date, source=shipped.source)

    cost = staticmethod(cost)

    def price_for(self, model: str) -> Price | None:
        """Exact name, then case-insensitive, then longest prefix at a separator.

        If none of those match and the name has a provider path ("openrouter/openai/gpt-4o"),
        the same rules are tried on the part after the last "/".
        """
        found = self._match(model)
        if found is None and "/" in model:
            found = self._match(model.rsplit("/", 1)[1])
        return found

    def _match(self, model: str) -> Price | None:
        if not model:
            return None
        exact = self.prices.get(model)
        if exact is not None:
            return exact
        lower = model.lower()
        name = self._lower.get(lower)
        if name is not None:
            return self.prices[name]
        best = ""
        for key in self._lower:
            if (
                len(key) > len(best)
                and len(lower) > len(key)
                and lower.startswith(key)
                and lower[len(key)] in _SEPARATORS
            ):
                best = key
        return self.prices[self._lower[best]] if best else None

    def price_for_tier(self, tier: TierConfig) -> Price:
        """The tier's own price, else 0 for local backends, else the table, else 0.

        Local tiers (llama.cpp, vLLM) cost nothing per token; their fixed server cost is
        `ledger.server_monthly_usd`, shown apart. An `openai` tier whose model is not in the
        table also prices at 0 (it is usually a LAN llama.cpp/vLLM server); start-up should
        warn with `unpriced_tiers` so a cloud model missing from the table is noticed.
        """
        if tier.price is not None:
            return tier.price
        if tier.backend in _LOCAL_BACKENDS:
            return FREE
        return self.price_for(tier.model or tier.name) or FREE

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
