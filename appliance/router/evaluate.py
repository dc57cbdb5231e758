"""`appliance router eval`: the shipped router against the four baselines, per group, on any
outcomes file, and its quality/cost curve.

It owns building and formatting that report. The router's scores come from the caller (the
encoder + classifier in production), the folds, baselines and metrics from `grouped.py`, the
curve from `calibration.py`; nothing here trains the router. The trained baselines (kNN-50 and
logistic regression over the same embeddings) are fitted on the file itself, in folds that hold
out whole groups (the file's `source`), so they show what the file's own labels teach about
unseen groups; the shipped router was trained on other data, so for it every group is unseen
unless the file is its training data (then the report says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from appliance.router.calibration import (
    REPORT_TARGETS,
    QualityCurve,
    cut_points_for_quality,
    expected_at_cut_points,
)
from appliance.router.grouped import (
    Baselines,
    GroupedReport,
    assign_folds,
    fold_splits,
    format_grouped_table,
    grouped_report,
)
from appliance.router.metrics import Outcomes

EVAL_FOLDS = 10
ROUTER = "router (shipped)"


@dataclass(frozen=True)
class CurveCheck:
    """One quality target: what router.json's curve expects and what this file shows."""

    target: float
    cut_points: tuple[float, ...]
    expected_top_share: float
    expected_quality: float
    top_share: float
    quality: float


def evaluation_reports(
    outcomes: Outcomes, scores: np.ndarray, vectors: np.ndarray | None
) -> dict[str, GroupedReport]:
    """Reports for the baselines and the router; kNN/LR only with vectors and >= 2 groups."""
    groups = [s or "all" for s in outcomes.sources]
    weak, strong = outcomes.weak_correct, outcomes.strong_correct
    lengths = np.array([len(p) for p in outcomes.prompts], dtype=np.float64)
    all_scores: dict[str, np.ndarray]
    if vectors is not None and len(set(groups)) >= 2:
        splits = fold_splits(assign_folds(groups, EVAL_FOLDS))
        all_scores = Baselines(lengths, vectors, weak, strong).scores(splits)
    else:
        all_scores = {"random": np.zeros(lengths.size), "prompt length": lengths}
    all_scores[ROUTER] = np.asarray(scores, dtype=np.float64)
    return {
        name: grouped_report(s, weak, strong, groups, random_draws=name == "random")
        for name, s in all_scores.items()
    }


def curve_checks(
    curve: QualityCurve,
    scores: np.ndarray,
    weak_correct: np.ndarray,
    strong_correct: np.ndarray,
    n_tiers: int,
    targets: Sequence[float] = REPORT_TARGETS,
) -> list[CurveCheck]:
    """For each target: the cut points, the expected top-tier share and quality (only the top
    tier counted as strong), and the same two measured on these outcomes."""
    out = []
    total_strong = float(np.sum(strong_correct))
    for target in targets:
        cuts = cut_points_for_quality(curve, target, n_tiers)
        expected = expected_at_cut_points(curve, cuts)
        up = np.asarray(scores) >= cuts[-1]
        kept = (np.sum(strong_correct[up]) + np.sum(weak_correct[~up])) / total_strong
        out.append(
            CurveCheck(
                target,
                tuple(cuts),
                expected.tier_shares[-1],
                expected.quality_low,
                float(np.mean(up)),
                float(kept),
            )
        )
    return out


def format_evaluation(
    reports: dict[str, GroupedReport], checks: list[CurveCheck], in_sample: bool
) -> str:
    """The whole `router eval` printout."""
    pooled = reports[ROUTER].pooled
    lines = [
        f"prompts: {pooled.n}  groups: {len(reports[ROUTER].groups)}  weak quality: "
        f"{pooled.q_weak:.4f}  strong quality: {pooled.q_strong:.4f}",
    ]
    if in_sample:
        lines.append(
            "WARNING: this is the router's training file; its numbers are in-sample. "
            "See MODEL_CARD.md for the grouped cross-validated ones."
        )
    lines += ["", f"{'router':<36} {'APGR':>7} {'CPT(50%)':>9} {'CPT(80%)':>9}"]
    for name, r in reports.items():
        m = r.pooled
        lines.append(f"{name:<36} {m.apgr:>7.4f} {m.cpt50:>9.1%} {m.cpt80:>9.1%}")
    if len(reports[ROUTER].groups) > 1:
        lines += ["", "APGR per group (n/a: the strong model is not better there)"]
        lines.append(format_grouped_table(reports))
    lines += [
        "",
        "Quality/cost curve: cut points for a quality target (top tier = strong model, lower "
        "tiers = weak)",
        f"{'target':>7} {'cut points':>20} {'expected top share':>19} {'expected quality':>17} "
        f"{'top share here':>15} {'quality here':>13}",
    ]
    for c in checks:
        cuts = ", ".join(f"{v:.3f}" for v in c.cut_points)
        lines.append(
            f"{c.target:>7.3f} {cuts:>20} {c.expected_top_share:>19.1%} "
            f"{c.expected_quality:>17.3f} {c.top_share:>15.1%} {c.quality:>13.3f}"
        )
    return "\n".join(lines)
