"""Turns what happened to a request (its attempts) into ledger rows and one event.

It owns the money arithmetic on the request path: cost per attempt from the tier's price,
the baseline (what the configured frontier tier would have charged for the answer's tokens),
and the token estimate used when a backend sends no usage (marked `estimated`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.config import Config, Price, TierConfig
from appliance.ledger.budgets import Hold
from appliance.ledger.prices import PriceTable, baseline_tier, cost
from appliance.ledger.rows import LedgerRow
from appliance.schemas import ChatCompletionRequest, Usage

# The ledger's tier name for the local encoder's `/v1/embeddings` work.
EMBEDDINGS = "embeddings"
# A chat message costs a few tokens of framing beyond its text in OpenAI-style templates.
_TOKENS_PER_MESSAGE = 4


@dataclass
class Attempt:
    """One try on one tier (or the cache, tier "cache")."""

    tier: str
    model: str
    began: float
    backend_s: float
    status: str = "ok"  # "ok" | "error:<kind>"
    usage: Usage | None = None
    estimated: bool = False


@dataclass
class Outcome:
    """Everything the ledger and the event need about one finished request."""

    request_id: str
    client_id: str
    client_name: str
    model_requested: str
    cache: str
    route_reason: str
    score: float | None
    stream: bool
    started_wall: float
    latency_ms: float
    attempts: list[Attempt] = field(default_factory=list)
    prompt_text: str | None = None
    # What the request held against its client's budget; settled when its rows are written.
    hold: Hold | None = None


class Billing:
    def __init__(self, config: Config, prices: PriceTable) -> None:
        self.prices = prices
        self.update(config)

    def update(self, config: Config) -> None:
        self._tier_prices = {t.name: self.prices.price_for_tier(t) for t in config.tiers}
        self._baseline: Price = self.prices.price_for_tier(baseline_tier(config))

    def price(self, tier: str) -> Price:
        return self._tier_prices.get(tier, Price())

    def price_of(self, tier: TierConfig) -> Price:
        return self._tier_prices.get(tier.name) or self.prices.price_for_tier(tier)

    def cost(self, tier: str, usage: Usage | None) -> float:
        if usage is None:
            return 0.0
        return cost(
            self.price(tier), usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens
        )

    def baseline(self, usage: Usage | None) -> float:
        """All-frontier cost of the answer: no provider prompt-cache discount assumed."""
        if usage is None:
            return 0.0
        return cost(self._baseline, usage.prompt_tokens, usage.completion_tokens, 0)

    def rows(self, outcome: Outcome) -> list[LedgerRow]:
        rows = []
        last_ok = max((i for i, a in enumerate(outcome.attempts) if a.status == "ok"), default=-1)
        for i, attempt in enumerate(outcome.attempts):
            usage = attempt.usage or Usage()
            rows.append(
                LedgerRow(
                    ts=outcome.started_wall,
                    request_id=outcome.request_id,
                    attempt=i,
                    client=outcome.client_id,
                    tier=attempt.tier,
                    model=attempt.model,
                    cache=outcome.cache,
                    route_score=outcome.score,
                    route_reason=outcome.route_reason,
                    prompt_tokens=usage.prompt_tokens,
                    completion_tokens=usage.completion_tokens,
                    cached_tokens=min(usage.cached_tokens, usage.prompt_tokens),
                    cost_usd=0.0
                    if attempt.tier == "cache"
                    else self.cost(attempt.tier, attempt.usage),
                    # One all-frontier call would have produced the answer the client got
                    # (embeddings are not a chat answer: no savings claimed for them).
                    baseline_usd=self.baseline(attempt.usage)
                    if i == last_ok and attempt.tier != EMBEDDINGS
                    else 0.0,
                    latency_ms=attempt.backend_s * 1000.0
                    if attempt.tier != "cache"
                    else outcome.latency_ms,
                    status=attempt.status,
                    estimated=attempt.estimated,
                    stream=outcome.stream,
                )
            )
        return rows


def estimate_usage(req: ChatCompletionRequest, text: str, count: Callable[[str], int]) -> Usage:
    """Token counts when a backend sends none: the encoder's word-piece count, which tracks
    BPE counts of English within ~10%; rows built from it are marked `estimated`."""
    prompt = sum(count(m.text()) + _TOKENS_PER_MESSAGE for m in req.messages)
    completion = count(text) if text else 0
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )
