"""Score -> tier: the operator's cut points, or target traffic shares turned into cut points.

It owns mapping a complexity score in [0, 1] to a tier index 0..n-1 and validating the knobs
that control it, and it is the single source of that policy: the gateway (`runtime`) and the
offline audit (`replay`) both build theirs with `build_policy`. It must not score prompts,
call backends or know about health, budgets or the cascade; the pipeline applies those after
the policy has picked a tier. No I/O beyond reading the `router.json` it is handed.

Two ways to set it, because operators think in both: raw cut points ("scores from 0.62 up go
to the frontier") or shares ("at most 10% of traffic to the frontier"). Shares are turned into
cut points from a rolling window of recent scores, since the score distribution of live
traffic is not the training one; until the window holds enough scores the training quantiles
recorded in `router.json` stand in, so the first request is routed sensibly too.

Errors name the config key (`router.cut_points[1]: ...`) so a bad value is fixed at the source.
A cut point outside the range of scores the shipped model produced is an error, not a silent
"this tier never gets traffic": turning a tier off is a separate switch.
"""

from __future__ import annotations

import bisect
import itertools
import json
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.config import RouterConfig
from appliance.router.calibration import QualityCurve, cut_points_for_quality

DEFAULT_WINDOW = 2000
# Fewer live scores than this and the window's quantiles are noisier than the training ones.
DEFAULT_MIN_WINDOW = 200


@dataclass(frozen=True)
class ScoreProfile:
    """What the shipped model's scores look like: quantiles and the observed range.

    `quantiles[i]` is the i/(len-1) quantile of the scores on the training data.
    """

    quantiles: tuple[float, ...]
    score_min: float
    score_max: float

    @classmethod
    def from_metadata(cls, metadata: dict[str, object]) -> ScoreProfile:
        """Build from the parsed `router.json` (keys `score_quantiles`, `score_range`)."""
        quantiles = metadata.get("score_quantiles")
        score_range = metadata.get("score_range")
        if not isinstance(quantiles, list) or len(quantiles) < 2:
            raise ValueError("router.json: score_quantiles: expected a list of >= 2 numbers")
        if not isinstance(score_range, list) or len(score_range) != 2:
            raise ValueError("router.json: score_range: expected [min, max]")
        values = tuple(float(q) for q in quantiles)
        if any(b < a for a, b in itertools.pairwise(values)):
            raise ValueError("router.json: score_quantiles: must be non-decreasing")
        return cls(values, float(score_range[0]), float(score_range[1]))

    @classmethod
    def load(cls, path: Path) -> ScoreProfile:
        return cls.from_metadata(json.loads(Path(path).read_text(encoding="utf-8")))

    def quantile(self, q: float) -> float:
        """Training-score quantile at q in [0, 1], linear between the recorded points."""
        grid = np.linspace(0.0, 1.0, len(self.quantiles))
        return float(np.interp(q, grid, self.quantiles))


@dataclass(frozen=True)
class CutPoints:
    """n-1 ascending cut points for n tiers: score < values[0] -> tier 0, ... , else tier n-1."""

    values: tuple[float, ...]

    def tier(self, score: float) -> int:
        return bisect.bisect_right(self.values, score)

    def validate(self, profile: ScoreProfile | None = None, key: str = "router.cut_points") -> None:
        """Raise ValueError naming `key[i]` for the first bad value."""
        if not self.values:
            raise ValueError(f"{key}: need at least one cut point (two tiers)")
        for i, value in enumerate(self.values):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{key}[{i}]: {value} is outside [0, 1]")
            if i and value <= self.values[i - 1]:
                raise ValueError(
                    f"{key}[{i}]: {value} must be above {key}[{i - 1}] ({self.values[i - 1]}); "
                    "cut points must be strictly ascending"
                )
        if profile is None:
            return
        for i, value in enumerate(self.values):
            if value > profile.score_max:
                raise ValueError(
                    f"{key}[{i}]: {value} is above the highest score the shipped model produces "
                    f"({profile.score_max:.3g}), so tier {i + 1} would never be used"
                )
            if value <= profile.score_min:
                raise ValueError(
                    f"{key}[{i}]: {value} is at or below the lowest score the shipped model "
                    f"produces ({profile.score_min:.3g}), so tier {i} would never be used"
                )


def validate_shares(shares: Sequence[float], key: str = "router.tier_shares") -> None:
    """Shares are per tier, each in (0, 1), summing to 1 (within 1e-6)."""
    if len(shares) < 2:
        raise ValueError(f"{key}: need a share for each of at least two tiers")
    for i, share in enumerate(shares):
        if not 0.0 < share < 1.0:
            raise ValueError(f"{key}[{i}]: {share} must be between 0 and 1 (exclusive)")
    total = float(sum(shares))
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"{key}: shares sum to {total:.6g}, expected 1")


def cut_points_for_shares(shares: Sequence[float], quantile: Callable[[float], float]) -> CutPoints:
    """Cut points so tier i gets about shares[i] of the scores `quantile` describes."""
    cumulative = np.cumsum(shares)[:-1]
    values = [quantile(float(c)) for c in cumulative]
    # Equal quantiles (a flat score distribution) would make an empty tier; nudge upwards.
    for i in range(1, len(values)):
        if values[i] <= values[i - 1]:
            values[i] = float(np.nextafter(values[i - 1], np.inf))
    return CutPoints(tuple(values))


class RoutingPolicy:
    """Maps scores to tier indices; thread-safe (the window is guarded by a lock).

    Build with `fixed(...)` for raw cut points or `by_shares(...)` for traffic shares.
    """

    def __init__(
        self,
        n_tiers: int,
        profile: ScoreProfile,
        *,
        cut_points: CutPoints | None = None,
        shares: Sequence[float] | None = None,
        window: int = DEFAULT_WINDOW,
        min_window: int = DEFAULT_MIN_WINDOW,
    ) -> None:
        if (cut_points is None) == (shares is None):
            raise ValueError("router: set exactly one of cut_points or tier_shares")
        if n_tiers < 2 and not (n_tiers == 1 and cut_points == CutPoints(())):
            raise ValueError(f"router.tiers: need at least two tiers, got {n_tiers}")
        if cut_points is not None and n_tiers > 1:
            cut_points.validate(profile)
            if len(cut_points.values) != n_tiers - 1:
                raise ValueError(
                    f"router.cut_points: {n_tiers} tiers need {n_tiers - 1} cut points, "
                    f"got {len(cut_points.values)}"
                )
        if shares is not None:
            validate_shares(shares)
            if len(shares) != n_tiers:
                raise ValueError(
                    f"router.tier_shares: {n_tiers} tiers need {n_tiers} shares, got {len(shares)}"
                )
        if window < 1 or not 1 <= min_window <= window:
            raise ValueError(
                f"router.window: need 1 <= min_window <= window, got {min_window}, {window}"
            )
        self.n_tiers = n_tiers
        self._profile = profile
        self._fixed = cut_points
        self._shares = tuple(shares) if shares is not None else None
        self._min_window = min_window
        self._recent: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()

    @classmethod
    def single(cls, profile: ScoreProfile) -> RoutingPolicy:
        """One tier: every score maps to it (there is nothing to route)."""
        return cls(1, profile, cut_points=CutPoints(()))

    @classmethod
    def fixed(cls, cut_points: Sequence[float], profile: ScoreProfile) -> RoutingPolicy:
        return cls(len(cut_points) + 1, profile, cut_points=CutPoints(tuple(cut_points)))

    @classmethod
    def by_shares(
        cls,
        shares: Sequence[float],
        profile: ScoreProfile,
        window: int = DEFAULT_WINDOW,
        min_window: int | None = None,
    ) -> RoutingPolicy:
        """`min_window` defaults to 200 scores, or the whole window if that is smaller."""
        if min_window is None:
            min_window = min(DEFAULT_MIN_WINDOW, window)
        return cls(len(shares), profile, shares=shares, window=window, min_window=min_window)

    def observe(self, score: float) -> None:
        """Record a live score for the share window (a no-op effect for fixed cut points)."""
        with self._lock:
            self._recent.append(float(score))

    def cut_points(self) -> CutPoints:
        """The cut points in force now."""
        if self._fixed is not None:
            return self._fixed
        assert self._shares is not None
        with self._lock:
            enough = len(self._recent) >= self._min_window
            recent = np.fromiter(self._recent, dtype=np.float64) if enough else None
        if recent is None:
            return cut_points_for_shares(self._shares, self._profile.quantile)
        return cut_points_for_shares(self._shares, lambda q: float(np.quantile(recent, q)))

    def tier(self, score: float) -> int:
        """Tier index for one score, without recording it."""
        return self.cut_points().tier(score)

    def route(self, score: float) -> int:
        """Record the score in the window, then return its tier index."""
        self.observe(score)
        return self.tier(score)


def default_shares(n_tiers: int) -> list[float]:
    """Without operator cut points: the hardest 5% to the top tier, 25% to the middle, rest
    local (the case study's split). Two tiers: 80/20."""
    if n_tiers == 2:
        return [0.8, 0.2]
    middle = [0.25 / (n_tiers - 2)] * (n_tiers - 2)
    return [0.70, *middle, 0.05]


def target_shares(router: RouterConfig, n_tiers: int) -> list[float] | None:
    """The shares in force (configured); None with cut points or a quality target."""
    if router.cut_points is not None or n_tiers < 2:
        return None
    return router.target_shares


def cut_points_in_force(
    router: RouterConfig, n_tiers: int, curve: QualityCurve | None
) -> list[float] | None:
    """Explicit cut points, else those the quality target gives on the model's curve; None
    when shares rule (their cut points follow live traffic: `RoutingPolicy.cut_points`)."""
    if router.cut_points is not None:
        return list(router.cut_points)
    if router.target_shares is not None or n_tiers < 2:
        return None
    if curve is None:  # a model without a curve: the old default split
        return None
    return cut_points_for_quality(curve, router.quality_target, n_tiers)


def build_policy(
    router: RouterConfig, n_tiers: int, profile: ScoreProfile, curve: QualityCurve | None = None
) -> RoutingPolicy:
    """The policy the config asks for (cut points, shares, or a quality target on `curve`).
    Raises ValueError naming the bad key (cut points outside the model's range, shares that
    do not sum to 1)."""
    if n_tiers < 2:
        return RoutingPolicy.single(profile)
    cuts = cut_points_in_force(router, n_tiers, curve)
    if cuts is not None:
        return RoutingPolicy.fixed(cuts, profile)
    shares = target_shares(router, n_tiers) or default_shares(n_tiers)
    return RoutingPolicy.by_shares(shares, profile, window=router.window)
