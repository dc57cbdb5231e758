"""Router quality metrics: APGR and CPT, as defined by RouteLLM.

It owns turning (score, weak_correct, strong_correct) triples into the numbers the model card
and `appliance router eval` report, and reading outcomes files. It must not train or load
models; per-group reports and baselines are `grouped.py`.

Definitions. Prompts are sorted by score, highest first; sending the top fraction `f` to the
strong model gives quality(f) = mean(strong_correct if routed strong else weak_correct).
PGR(f) = (quality(f) - q_weak) / (q_strong - q_weak). APGR is the area under PGR over
f in [0, 1]; CPT(x) is the smallest f with PGR(f) >= x.

Ties are averaged rather than broken by input order: inside a block of equal scores the curve
is the straight line between the block's ends, which is the expectation over random
tie-breaking. Without this a constant-score router would look as good as the file's order
happens to make it, and a coarse model could earn credit from the data's layout.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class RoutingMetrics:
    """Summary of one router on one set of outcomes; fractions are of all prompts."""

    apgr: float
    cpt50: float
    cpt80: float
    q_weak: float
    q_strong: float
    n: int


def pgr_curve(
    scores: np.ndarray, weak_correct: np.ndarray, strong_correct: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(f, PGR(f)) at every k/n, k = 0..n prompts sent to the strong model, ties averaged."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    weak = np.asarray(weak_correct, dtype=np.float64).ravel()
    strong = np.asarray(strong_correct, dtype=np.float64).ravel()
    n = s.size
    if n == 0 or weak.size != n or strong.size != n:
        raise ValueError(f"need equal, non-empty arrays; got {n}, {weak.size}, {strong.size}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    q_weak, q_strong = weak.mean(), strong.mean()
    if q_strong <= q_weak:
        raise ValueError(
            f"PGR is undefined: strong model quality {q_strong:.4f} is not above weak {q_weak:.4f}"
        )
    order = np.argsort(-s, kind="stable")
    gain = (strong - weak)[order]
    cum = np.concatenate([[0.0], np.cumsum(gain)])
    # Replace the cumulative gain inside each tie block by the straight line between its ends.
    sorted_s = s[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_s[1:] != sorted_s[:-1]]))
    ends = np.concatenate([starts[1:], [n]])
    k = np.arange(n + 1, dtype=np.float64)
    block_of = np.searchsorted(ends, np.arange(n + 1), side="left")
    block_of = np.minimum(block_of, starts.size - 1)
    lo, hi = starts[block_of], ends[block_of]
    width = np.maximum(hi - lo, 1)
    smooth = cum[lo] + (cum[hi] - cum[lo]) * (k - lo) / width
    quality = (weak.sum() + smooth) / n
    return k / n, (quality - q_weak) / (q_strong - q_weak)


def cpt(f: np.ndarray, pgr: np.ndarray, target: float) -> float:
    """Smallest fraction sent strong at which PGR reaches `target` (linear between grid points)."""
    reached = np.flatnonzero(pgr >= target - 1e-12)
    if reached.size == 0:
        return 1.0
    i = int(reached[0])
    if i == 0:
        return 0.0
    # Interpolate between the last point below and the first at or above the target.
    p0, p1 = pgr[i - 1], pgr[i]
    t = (target - p0) / (p1 - p0) if p1 != p0 else 1.0
    return float(f[i - 1] + t * (f[i] - f[i - 1]))


def routing_metrics(
    scores: np.ndarray, weak_correct: np.ndarray, strong_correct: np.ndarray
) -> RoutingMetrics:
    """APGR, CPT(50%) and CPT(80%) of one router's scores; higher score means "send strong"."""
    f, pgr = pgr_curve(scores, weak_correct, strong_correct)
    return RoutingMetrics(
        apgr=float(np.trapezoid(pgr, f)),
        cpt50=cpt(f, pgr, 0.5),
        cpt80=cpt(f, pgr, 0.8),
        q_weak=float(np.mean(weak_correct)),
        q_strong=float(np.mean(strong_correct)),
        n=int(np.size(scores)),
    )


def random_router_metrics(
    weak_correct: np.ndarray, strong_correct: np.ndarray, draws: int = 20, seed: int = 0
) -> RoutingMetrics:
    """The random baseline, averaged over `draws` seeded draws (its expected APGR is 0.5)."""
    rng = np.random.default_rng(seed)
    runs = [
        routing_metrics(rng.random(np.size(weak_correct)), weak_correct, strong_correct)
        for _ in range(draws)
    ]
    return RoutingMetrics(
        apgr=float(np.mean([r.apgr for r in runs])),
        cpt50=float(np.mean([r.cpt50 for r in runs])),
        cpt80=float(np.mean([r.cpt80 for r in runs])),
        q_weak=runs[0].q_weak,
        q_strong=runs[0].q_strong,
        n=runs[0].n,
    )


@dataclass(frozen=True)
class Outcomes:
    """An outcomes file in memory: one prompt per row with both models' grades."""

    prompts: list[str]
    weak_correct: np.ndarray
    strong_correct: np.ndarray
    sources: list[str]


def read_outcomes(path: Path) -> Outcomes:
    """Read `{"prompt", "weak_correct", "strong_correct"[, "source"]}` JSONL.

    Errors name the file and line, so a bad row in a large file is found at once.
    """
    prompts: list[str] = []
    weak: list[bool] = []
    strong: list[bool] = []
    sources: list[str] = []
    for lineno, row in _rows(path):
        try:
            prompts.append(str(row["prompt"]))
            weak.append(bool(row["weak_correct"]))
            strong.append(bool(row["strong_correct"]))
        except KeyError as exc:
            raise ValueError(f"{path}:{lineno}: missing key {exc.args[0]!r}") from exc
        sources.append(str(row.get("source", "")))
    return Outcomes(prompts, np.array(weak), np.array(strong), sources)


def _rows(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    with Path(path).open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object")
            yield lineno, row
