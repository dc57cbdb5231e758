"""`--sweep`: the audit over a grid of cache thresholds and routing cut points.

It owns the grid and how a "share sent down" becomes cut points. It must not embed or score
again: the embeddings and router scores from `simulate.build` do not depend on the knobs, so
each threshold costs one cache pass (lookups and stores, no model) and each share only a
re-routing of the misses.

Cut points for a target share come from the replay's own miss scores (their quantiles), not
from the training profile: the question is "what if 90% of *this* traffic went down", and a
log's score distribution is rarely the training one. Lower tiers split the share in the
proportions of the default split (`policy.default_shares`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import numpy as np

from appliance.replay.simulate import Progress, Simulation, route, run_cache
from appliance.replay.summary import Summary, summarise
from appliance.router.policy import cut_points_for_shares, default_shares

DEFAULT_THRESHOLDS = (0.90, 0.92, 0.94, 0.96, 0.98)  # cosine, without the verifier
DEFAULT_VERIFIER_BARS = (0.55, 0.65, 0.75, 0.85, 0.95)  # the verifier's probability
DEFAULT_SHARES_DOWN = (0.5, 0.7, 0.8, 0.9, 0.95)


@dataclass
class SweepRow:
    threshold: float
    target_down: float | None  # None: one tier, nothing to route
    summary: Summary


def shares_for(down: float, n_tiers: int) -> list[float]:
    """Per-tier shares with `down` of the traffic below the top tier."""
    lower = default_shares(n_tiers)[:-1]
    total = sum(lower)
    return [down * share / total for share in lower] + [1.0 - down]


def sweep(
    sim: Simulation,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    shares_down: Sequence[float] = DEFAULT_SHARES_DOWN,
    days: float | None = None,
    progress: Progress | None = None,
) -> list[SweepRow]:
    rows = []
    n_tiers = len(sim.config.tiers)
    for threshold in thresholds:
        # With the verifier on (the default) its bar is the knob; without it, the cosine.
        knob = "verifier_threshold" if sim.config.cache.verifier else "threshold"
        config = msgspec.structs.replace(sim.config.cache, **{knob: threshold})
        cache = run_cache(sim, config, progress)
        if n_tiers < 2 or sim.scores is None:
            rows.append(
                SweepRow(
                    threshold, None, summarise(sim, cache, route(sim, cache, None), None, days)
                )
            )
            continue
        misses = np.array([o is None for o in cache.origin], dtype=bool)
        scores = sim.scores[misses] if misses.any() else sim.scores

        def quantile(q: float, s: np.ndarray = scores) -> float:
            return float(np.quantile(s, q))

        for down in shares_down:
            cuts = cut_points_for_shares(shares_for(down, n_tiers), quantile)
            tiers = route(sim, cache, cuts.tier)
            summary = summarise(sim, cache, tiers, list(cuts.values), days)
            rows.append(SweepRow(threshold, down, summary))
    return rows
