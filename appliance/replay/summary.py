"""What a replay comes to: per-request prices, latency and quality, summed into a `Summary`.

It owns the before/after arithmetic once the cache and the router have spoken: "before" is
what the log says was paid (or the baseline model), "after" is $0 for a hit and the routed
tier's price for the same token counts otherwise, with the provider's prompt-cache discount
kept only when the tier runs the very model the log names. Latency is the log's where it
exists for that model, else the documented per-backend assumptions below. Quality needs the
log's weak/strong labels: the top tier answers as the strong model did, every lower tier as
the weak one. With two labels a local model smaller than the weak one is credited with the
weak one's answers; docs/replay.md says so. It must not run models or caches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from appliance.ledger.prices import cost

if TYPE_CHECKING:
    from appliance.replay.simulate import CachePass, Simulation

# Latency assumptions when the log carries none: (first-token ms, prefill tok/s, decode tok/s).
# llamacpp is SmolLM2-135M on 2 cores (DESIGN.md: ~95 tok/s); openai is a typical hosted
# model; vllm a 7B model on one GPU. `--execute` measures the local tier for real.
CACHE_HIT_MS = 5.0
LATENCY: dict[str, tuple[float, float, float]] = {
    "llamacpp": (50.0, 1000.0, 95.0),
    "vllm": (60.0, 5000.0, 60.0),
    "openai": (400.0, 10000.0, 80.0),
}


@dataclass
class Summary:
    requests: int
    threshold: float
    cacheable: int
    hits_exact: int
    hits_semantic: int
    expired: int
    tiers: list[str]
    tier_counts: list[int]
    tier_costs: list[float]
    cost_before: float
    cost_after: float
    logged_basis: int
    latency_before_ms: float
    latency_after_ms: float
    latency_logged: int
    completion_estimated: int
    default_completion_tokens: int
    span_s: float | None
    month_factor: float | None
    cut_points: list[float] | None
    single_tier: bool
    baseline_model: str
    price_date: str
    labelled: int = 0
    frontier_correct: int = 0
    routed_correct: int = 0
    elapsed_s: float = 0.0
    embed_s: float = 0.0
    distinct_texts: int = 0
    remembered_texts: int = 0  # distinct texts whose vectors an earlier replay left
    router: str = ""  # the router model's version and training date, when one was used
    cache_rule: str = "cosine"  # what `threshold` is: "verifier" bar or "cosine" similarity
    notes: list[str] = field(default_factory=list)
    # Per request: the tier index it was sent to, -1 for a cache hit (for `--execute`).
    assignments: list[int] = field(default_factory=list, repr=False)

    @property
    def hits(self) -> int:
        return self.hits_exact + self.hits_semantic

    @property
    def savings_pct(self) -> float:
        return 100.0 * (1 - self.cost_after / self.cost_before) if self.cost_before else 0.0

    @property
    def share_down(self) -> float:
        """Share of routed (missed) requests sent below the top tier."""
        routed = sum(self.tier_counts)
        return (routed - self.tier_counts[-1]) / routed if routed else 0.0

    @property
    def quality_kept(self) -> float | None:
        if not self.labelled or not self.frontier_correct:
            return None
        return self.routed_correct / self.frontier_correct


# -- stage 5: prices, latency, quality -------------------------------------------------------


def _latency_ms(backend: str, prompt: int, completion: int) -> float:
    first, prefill, decode = LATENCY.get(backend, LATENCY["openai"])
    return first + 1000.0 * (prompt / prefill + completion / decode)


def summarise(
    sim: Simulation,
    cache: CachePass,
    tiers: list[int],
    cut_points: Sequence[float] | None,
    days: float | None = None,
) -> Summary:
    config, n_tiers = sim.config, len(sim.config.tiers)
    single = n_tiers == 1
    counts, costs = [0] * n_tiers, [0.0] * n_tiers
    before = after = lat_before = lat_after = 0.0
    labelled = frontier_ok = routed_ok = lat_logged = 0
    for i, (record, item) in enumerate(zip(sim.records, sim.prepared, strict=True)):
        cached = record.cached_tokens
        price_before = cost(item.before_price, item.prompt_tokens, item.completion_tokens, cached)
        before += price_before
        logged_ms = record.latency_ms
        own_ms = (
            logged_ms
            if logged_ms is not None
            else _latency_ms("openai", item.prompt_tokens, item.completion_tokens)
        )
        lat_logged += logged_ms is not None
        lat_before += own_ms
        tier = tiers[i]
        origin = cache.origin[i]
        if origin is not None:
            lat_after += CACHE_HIT_MS
            served_by = tiers[origin]
        else:
            tier_config = config.tiers[tier]
            counts[tier] += 1
            same_model = (tier_config.model or tier_config.name) == record.model
            if single:
                spent, ms = price_before, own_ms
            else:
                spent = cost(
                    sim.tier_prices[tier],
                    item.prompt_tokens,
                    item.completion_tokens,
                    cached if same_model else 0,
                )
                ms = (
                    logged_ms
                    if same_model and logged_ms is not None
                    else _latency_ms(
                        tier_config.backend, item.prompt_tokens, item.completion_tokens
                    )
                )
            costs[tier] += spent
            after += spent
            lat_after += ms
            served_by = tier
        if record.weak_correct is not None and record.strong_correct is not None:
            labelled += 1
            frontier_ok += record.strong_correct
            top = served_by == n_tiers - 1
            routed_ok += record.strong_correct if top else record.weak_correct
    stamps = [p.timestamp for p in sim.prepared if p.timestamp is not None]
    span = (max(stamps) - min(stamps)) if len(stamps) > 1 else None
    period = days * 86400.0 if days else span
    factor = 30 * 86400.0 / period if period and period >= 3600.0 else None
    n = len(sim.prepared)
    notes = []
    if single:
        notes.append(
            f"The config has one tier ({config.tiers[0].name}), so nothing is routed: "
            "misses are priced as logged and the savings are the cache's alone. Pass "
            "--config with your tiers (docs/replay.md) for a routing audit."
        )
    default = next((p.completion_tokens for p in sim.prepared if p.completion_estimated), 0)
    return Summary(
        requests=n,
        threshold=cache.threshold,
        cache_rule=cache.rule,
        cacheable=sum(p.cacheable for p in sim.prepared),
        hits_exact=cache.kind.count("exact"),
        hits_semantic=cache.kind.count("semantic"),
        expired=cache.expired,
        tiers=[t.name for t in config.tiers],
        tier_counts=counts,
        tier_costs=costs,
        cost_before=before,
        cost_after=after,
        logged_basis=sum(p.before_logged for p in sim.prepared),
        latency_before_ms=lat_before / n if n else 0.0,
        latency_after_ms=lat_after / n if n else 0.0,
        latency_logged=lat_logged,
        completion_estimated=sum(p.completion_estimated for p in sim.prepared),
        default_completion_tokens=default,
        span_s=span,
        month_factor=factor,
        cut_points=list(cut_points) if cut_points is not None else None,
        single_tier=single,
        baseline_model=sim.baseline_model,
        price_date=sim.price_date,
        labelled=labelled,
        frontier_correct=frontier_ok,
        routed_correct=routed_ok,
        notes=notes,
    )
