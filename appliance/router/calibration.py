"""Quality target -> cut points: the calibration curve shipped with the router model.

It owns turning "keep 95% of frontier quality" into score cut points, and the inverse (what
quality and cost a given set of cut points should give), from the curve `train.py` writes into
`router.json` under `quality_curve`. It must not score prompts or hold live state: every
function here is pure, so the policy can call it at start-up and on reload, and the admin API
and TUI can call `expected_at_cut_points` for a preview without touching routing.

The curve. `train.py` scores every outcome row with a model that never saw the row's group
(grouped cross-validation: a whole MMLU subject, or GSM8K, held out at a time), ranks the rows
by that out-of-fold score and, for each share s of traffic sent to the strong model (the top s
of the ranking), records the expected quality relative to sending everything to the strong
model: (strong-correct among the top s + weak-correct among the rest) / strong-correct overall.
It can exceed 1 (the weak model is sometimes right where the strong one is wrong). Each share s
is paired with the score `threshold` above which the *shipped* model sends that share of the
same prompts, so a share on the curve is a cut point in the shipped model's score scale.

Tiers. The outcomes know two models, weak and strong; an appliance has n tiers. The mapping:
- The top tier is the strong model; every lower tier is counted as the weak one. That is the
  quality *guarantee* (`quality_low`), and it is how `appliance replay` scores quality, so a
  target met here is met there on traffic like the outcomes.
- The top cut point is the smallest share whose quality reaches the target.
- The cut points below it split the remaining traffic by stricter targets: cut j (0-based,
  ascending) sits where a two-model system would cut for the target
  q_j = q + (1 - q) * (n - 2 - j) / (n - 1). With three tiers and q = 0.95 the middle tier takes
  the prompts that would go strong at 0.975 but not at 0.95: the next-hardest band. If the
  middle tier is better than the weak model, quality lands between `quality_low` and
  `quality_high` (every tier above the lowest counted as strong).
Shares are read off a pessimistic monotone envelope of the curve (the lowest quality at any
share at or above s), so a noisy bump in the curve never yields a cut point whose neighbours
miss the target.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from appliance.router.metrics import cpt, pgr_curve

# Quality targets `appliance router eval` and the model card print the operating point for.
REPORT_TARGETS: tuple[float, ...] = (0.9, 0.925, 0.95, 0.975, 0.98, 0.99)


@dataclass(frozen=True)
class QualityCurve:
    """Quality (relative to all-strong) against the share of traffic sent to the strong model.

    `share` ascends from 0 to 1; `threshold[i]` is the shipped model's score from which
    `share[i]` of the calibration prompts go up (non-increasing); `quality[i]` the expected
    quality at that share.
    """

    share: tuple[float, ...]
    threshold: tuple[float, ...]
    quality: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.share)
        if n < 2 or len(self.threshold) != n or len(self.quality) != n:
            raise ValueError(
                "quality_curve: share, threshold and quality need the same length (>= 2)"
            )
        if self.share[0] != 0.0 or self.share[-1] != 1.0:
            raise ValueError("quality_curve.share: must run from 0 to 1")
        if any(b <= a for a, b in itertools.pairwise(self.share)):
            raise ValueError("quality_curve.share: must be strictly ascending")
        if any(b > a for a, b in itertools.pairwise(self.threshold)):
            raise ValueError("quality_curve.threshold: must be non-increasing")
        if not all(np.isfinite(self.quality)) or min(self.quality) <= 0.0:
            raise ValueError("quality_curve.quality: must be finite and positive")

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, object]) -> QualityCurve:
        """The curve in a parsed `router.json` (key `quality_curve`)."""
        raw = metadata.get("quality_curve")
        if not isinstance(raw, Mapping):
            raise ValueError("router.json: quality_curve: missing; retrain with train.py")
        try:
            return cls(
                tuple(float(v) for v in raw["share"]),
                tuple(float(v) for v in raw["threshold"]),
                tuple(float(v) for v in raw["quality"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"router.json: quality_curve: bad or missing {exc}") from exc

    @classmethod
    def optional(cls, metadata: Mapping[str, object]) -> QualityCurve | None:
        """The curve, or None for a model trained before curves existed (routing then falls
        back to the default shares); a curve that is present but malformed still raises."""
        if "quality_curve" not in metadata:
            return None
        return cls.from_metadata(metadata)

    def to_json(self) -> dict[str, list[float]]:
        return {
            "share": [round(v, 6) for v in self.share],
            "threshold": [round(v, 6) for v in self.threshold],
            "quality": [round(v, 6) for v in self.quality],
        }

    def quality_at(self, share: float) -> float:
        """Expected quality with `share` of traffic on the strong model (linear in between)."""
        return float(np.interp(share, self.share, self.quality))

    def share_at(self, threshold: float) -> float:
        """Share of calibration traffic scoring at or above `threshold`."""
        # np.interp needs ascending x: walk the thresholds from low to high.
        return float(np.interp(threshold, self.threshold[::-1], self.share[::-1]))

    def threshold_at(self, share: float) -> float:
        return float(np.interp(share, self.share, self.threshold))

    def share_for_quality(self, target: float) -> float:
        """Smallest share whose quality, and that of every larger share, reaches `target`."""
        envelope = np.minimum.accumulate(np.asarray(self.quality)[::-1])[::-1]
        # The same first crossing, linear in between, as CPT's on the PGR curve.
        return cpt(np.asarray(self.share), envelope, target)


def build_curve(
    ranking_scores: np.ndarray,
    weak_correct: np.ndarray,
    strong_correct: np.ndarray,
    shipped_scores: np.ndarray,
    points: int = 101,
) -> QualityCurve:
    """The curve from out-of-fold `ranking_scores` and the shipped model's scores of the same
    prompts (for the thresholds); shares on a grid of `points` from 0 to 1."""
    f, pgr = pgr_curve(ranking_scores, weak_correct, strong_correct)
    q_weak = float(np.mean(weak_correct))
    q_strong = float(np.mean(strong_correct))
    relative = (q_weak + pgr * (q_strong - q_weak)) / q_strong
    grid = np.linspace(0.0, 1.0, points)
    quality = np.interp(grid, f, relative)
    threshold = np.quantile(np.asarray(shipped_scores, dtype=np.float64), 1.0 - grid)
    return QualityCurve(
        tuple(float(v) for v in grid),
        tuple(float(v) for v in threshold),
        tuple(float(v) for v in quality),
    )


def tier_targets(quality_target: float, n_tiers: int) -> list[float]:
    """Two-model quality targets behind each cut point, ascending cut order (see module doc)."""
    if n_tiers < 2:
        raise ValueError(f"router.tiers: need at least two tiers, got {n_tiers}")
    if not 0.0 < quality_target <= 1.0:
        raise ValueError(f"router.quality_target: {quality_target} must be in (0, 1]")
    gap = 1.0 - quality_target
    return [quality_target + gap * (n_tiers - 2 - j) / (n_tiers - 1) for j in range(n_tiers - 1)]


def cut_points_for_quality(curve: QualityCurve, quality_target: float, n_tiers: int) -> list[float]:
    """n-1 strictly ascending cut points that keep `quality_target` of all-strong quality.

    The top cut point is the threshold of the smallest share whose (enveloped) quality reaches
    the target; the lower ones follow the stricter-target rule in the module docstring. A target
    the weak model alone meets puts the top cut at the highest calibrated score; cut points that
    would coincide are nudged apart so every tier stays reachable.
    """
    values = [
        curve.threshold_at(curve.share_for_quality(q))
        for q in tier_targets(quality_target, n_tiers)
    ]
    # A cut at the lowest calibrated score would leave the tier below it empty (and the policy
    # rejects it); stricter targets never need a smaller share, so values are non-decreasing,
    # and ties (a flat stretch of scores) would leave a tier empty too.
    lowest = curve.threshold[-1]
    values[0] = max(values[0], float(np.nextafter(lowest, np.inf)))
    for i in range(1, len(values)):
        if values[i] <= values[i - 1]:
            values[i] = float(np.nextafter(values[i - 1], np.inf))
    return values


@dataclass(frozen=True)
class OperatingPoint:
    """What a set of cut points should do on traffic like the calibration data.

    `tier_shares[i]`: share of traffic on tier i. `quality_low`: quality relative to all-strong
    with only the top tier counted as strong (the guarantee); `quality_high`: with every tier
    above the lowest counted as strong. `cost_share`: cost relative to sending all traffic to
    the top tier, under the relative tier costs given (default: only the top tier costs).
    """

    cut_points: tuple[float, ...]
    tier_shares: tuple[float, ...]
    quality_low: float
    quality_high: float
    cost_share: float


def expected_at_cut_points(
    curve: QualityCurve,
    cut_points: Sequence[float],
    tier_costs: Sequence[float] | None = None,
) -> OperatingPoint:
    """The preview: tier shares, quality bounds and cost share of `cut_points` (ascending).

    `tier_costs` are per-request costs relative to the top tier (e.g. [0, 0.06, 1] for a free
    local tier and a cloud tier at 6% of the frontier's price); default: 0 below the top.
    """
    cuts = tuple(float(c) for c in cut_points)
    if not cuts or any(b <= a for a, b in itertools.pairwise(cuts)):
        raise ValueError("cut_points: need at least one, strictly ascending")
    n_tiers = len(cuts) + 1
    costs = list(tier_costs) if tier_costs is not None else [0.0] * (n_tiers - 1) + [1.0]
    if len(costs) != n_tiers:
        raise ValueError(f"tier_costs: {n_tiers} tiers need {n_tiers} costs, got {len(costs)}")
    # Share at or above each cut point, from the lowest cut (largest share) to the top one.
    above = [curve.share_at(c) for c in cuts]
    shares = [1.0 - above[0]]
    shares += [above[i] - above[i + 1] for i in range(len(above) - 1)]
    shares.append(above[-1])
    return OperatingPoint(
        cut_points=cuts,
        tier_shares=tuple(shares),
        quality_low=curve.quality_at(above[-1]),
        quality_high=curve.quality_at(above[0]),
        cost_share=float(sum(s * c for s, c in zip(shares, costs, strict=True))),
    )


def curve_rows(
    curve: QualityCurve, targets: Sequence[float] = REPORT_TARGETS, n_tiers: int = 2
) -> list[tuple[float, OperatingPoint]]:
    """(target, operating point) for each quality target: the table `router eval` prints."""
    return [
        (t, expected_at_cut_points(curve, cut_points_for_quality(curve, t, n_tiers)))
        for t in targets
    ]
