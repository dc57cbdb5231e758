"""What a routing change would have done to recent traffic: split counts and cost.

Pure functions over `RequestEvent`s, no I/O and no Textual, so the numbers an operator is
asked to confirm are unit-tested. The daemon's own policy lives in `appliance.router`, which the
TUI must not import; the two rules repeated here are small and pinned by tests: a score at or
above a cut point goes to the tier above it (`bisect_right`), and target shares become cut
points at the cumulative quantiles of the scores (linear interpolation, as numpy's default).

The cost is an estimate: it prices each request's recorded tokens at the new tier's prices,
though a different model would have written a different number of tokens.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from appliance.admin.messages import RequestEvent, RoutingPreview, TierSetting

PER_TOKEN = 1e-6  # prices are USD per 1M tokens


@dataclass(frozen=True)
class SplitPreview:
    """How `requests` routed events would have split across tiers, and what they would cost."""

    counts: tuple[int, ...]
    cost_usd: float
    current_cost_usd: float
    requests: int
    # Events the cut points do not decide: cache hits, pinned models, no score recorded.
    skipped: int

    @property
    def shares(self) -> tuple[float, ...]:
        return tuple(c / self.requests if self.requests else 0.0 for c in self.counts)

    def describe(self, tier_names: Sequence[str]) -> str:
        if not self.requests:
            return "no routed requests recorded yet, so there is nothing to preview"
        split = "/".join(str(c) for c in self.counts)
        names = "/".join(tier_names)
        return (
            f"the last {self.requests} routed requests would have split {split} ({names}) "
            f"and cost ${self.cost_usd:.4f} (actual ${self.current_cost_usd:.4f})"
        )


def is_routed(event: RequestEvent) -> bool:
    """Whether the cut points chose this request's tier."""
    return (
        event.score is not None
        and not event.cache.startswith("hit")
        and event.route_reason != "pinned"
    )


def tier_for(
    score: float, cut_points: Sequence[float], enabled: Sequence[bool] | None = None
) -> int:
    """The tier index for a score; a disabled tier hands its traffic up the cascade first
    (dearer tiers are likelier to answer), then down, as the daemon's pipeline does."""
    index = int(bisect.bisect_right(list(cut_points), score))
    if enabled is None or enabled[index]:
        return index
    order: list[int] = [*range(index + 1, len(enabled)), *range(index - 1, -1, -1)]
    for candidate in order:
        if enabled[candidate]:
            return candidate
    return index


def preview_split(
    events: Iterable[RequestEvent],
    cut_points: Sequence[float],
    tiers: Sequence[TierSetting],
    *,
    enabled: Sequence[bool] | None = None,
) -> SplitPreview:
    """Re-route each routed event by its score with `cut_points` and price it at that tier."""
    if len(cut_points) != len(tiers) - 1:
        raise ValueError(
            f"{len(tiers)} tiers need {len(tiers) - 1} cut points, got {len(cut_points)}"
        )
    counts = [0] * len(tiers)
    cost = current = 0.0
    skipped = 0
    for event in events:
        if not is_routed(event):
            skipped += 1
            continue
        assert event.score is not None
        index = tier_for(event.score, cut_points, enabled)
        tier = tiers[index]
        counts[index] += 1
        cost += (
            event.prompt_tokens * tier.price_input + event.completion_tokens * tier.price_output
        ) * PER_TOKEN
        current += event.cost_usd
    return SplitPreview(tuple(counts), cost, current, sum(counts), skipped)


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile of already sorted values, linearly interpolated (numpy's default)."""
    if not sorted_values:
        raise ValueError("quantile of no values")
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def cut_points_for_shares(scores: Iterable[float], shares: Sequence[float]) -> list[float]:
    """Cut points that give tier i about shares[i] of these scores."""
    ordered = sorted(scores)
    values: list[float] = []
    total = 0.0
    for share in shares[:-1]:
        total += share
        value = quantile(ordered, min(total, 1.0))
        if values and value <= values[-1]:
            value = math.nextafter(values[-1], math.inf)  # never an empty tier
        values.append(value)
    return values


def parse_numbers(text: str) -> list[float]:
    """'0.3, 0.7' or '0.3 0.7' -> [0.3, 0.7]; ValueError naming the bad item."""
    items = [item for item in text.replace(",", " ").split() if item]
    numbers: list[float] = []
    for i, item in enumerate(items):
        try:
            numbers.append(float(item.rstrip("%")) / (100.0 if item.endswith("%") else 1.0))
        except ValueError:
            raise ValueError(f"item {i + 1}: {item!r} is not a number") from None
    return numbers


def check_cut_points(values: Sequence[float], n_tiers: int) -> None:
    """The shape checks the daemon makes too, so the operator sees them before confirming."""
    if len(values) != n_tiers - 1:
        raise ValueError(f"{n_tiers} tiers need {n_tiers - 1} cut point(s), got {len(values)}")
    for i, value in enumerate(values):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"cut point {i + 1}: {value} is outside [0, 1]")
        if i and value <= values[i - 1]:
            raise ValueError(f"cut point {i + 1}: {value} must be above {values[i - 1]}")


def check_shares(values: Sequence[float], n_tiers: int) -> None:
    if len(values) != n_tiers:
        raise ValueError(f"{n_tiers} tiers need {n_tiers} share(s), got {len(values)}")
    for i, value in enumerate(values):
        if not 0.0 < value < 1.0:
            raise ValueError(f"share {i + 1}: {value} must be between 0 and 1")
    if abs(sum(values) - 1.0) > 1e-6:
        raise ValueError(f"shares sum to {sum(values):.4g}, expected 1")


def check_quality_target(values: Sequence[float]) -> float:
    """One share of all-frontier quality, as the daemon accepts it: in [0.5, 1]."""
    if len(values) != 1:
        raise ValueError(f"one quality target (e.g. 95%), got {len(values)} numbers")
    if not 0.5 <= values[0] <= 1.0:
        raise ValueError(f"quality target {values[0]:.4g}: must be between 50% and 100%")
    return values[0]


def describe_expected(expected: RoutingPreview) -> str:
    """The router's own estimate for these cut points, from its held-out calibration curve."""
    shares = "/".join(f"{s:.0%}" for s in expected.tier_shares)
    quality = (
        f"{expected.quality_low:.1%}"
        if abs(expected.quality_high - expected.quality_low) < 5e-4
        else f"{expected.quality_low:.1%}-{expected.quality_high:.1%}"
    )
    return (
        f"cut points {', '.join(f'{c:.3g}' for c in expected.cut_points)}: on the router's "
        f"held-out data, traffic {shares}, quality {quality} of all-frontier at "
        f"{expected.cost_share:.0%} of its cost"
    )
