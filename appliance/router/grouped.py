"""Grouped evaluation: does the router generalise to subjects and sources it has never seen?

It owns the folds (whole groups held out, never split), the per-group and pooled APGR/CPT
report, and the baselines every router is compared against (random, prompt length, kNN-50 over
the embeddings, L2 logistic regression over the embeddings), all in numpy so that
`models/router/train.py` and `appliance router eval` use the same code. It must not train the
router's head or load the shipped model.

Why grouped. A split stratified by subject puts every validation subject in training too, so a
head can score well by learning which subjects the weak model fails, which says nothing about a
customer's prompts. Here a group (an MMLU subject, GSM8K, MT-Bench, ...) is on one side of a
split only; a second scheme holds out whole source families (MMLU's four categories, GSM8K).

Pooling across folds. Each fold has its own model, and a model fitted without a group carries
that group's absence in its intercept (leave one high-gain group out and the training mean
drops, so that fold's scores all shift down). Pooled out-of-fold scores would then rank folds
against each other by an artefact. So every fold's scores are expressed as a percentile of the
same model's scores on its own training rows before pooling (`percentile_in`); the baselines
get the same treatment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from appliance.router.metrics import RoutingMetrics, random_router_metrics, routing_metrics

# MMLU's subject -> category table (Hendrycks et al., `categories.py`), for the family scheme.
_MMLU_CATEGORIES: dict[str, list[str]] = {
    "stem": [
        "abstract_algebra",
        "astronomy",
        "college_biology",
        "college_chemistry",
        "college_computer_science",
        "college_mathematics",
        "college_physics",
        "computer_security",
        "conceptual_physics",
        "electrical_engineering",
        "elementary_mathematics",
        "high_school_biology",
        "high_school_chemistry",
        "high_school_computer_science",
        "high_school_mathematics",
        "high_school_physics",
        "high_school_statistics",
        "machine_learning",
    ],
    "humanities": [
        "formal_logic",
        "high_school_european_history",
        "high_school_us_history",
        "high_school_world_history",
        "international_law",
        "jurisprudence",
        "logical_fallacies",
        "moral_disputes",
        "moral_scenarios",
        "philosophy",
        "prehistory",
        "professional_law",
        "world_religions",
    ],
    "social_sciences": [
        "econometrics",
        "high_school_geography",
        "high_school_government_and_politics",
        "high_school_macroeconomics",
        "high_school_microeconomics",
        "high_school_psychology",
        "human_sexuality",
        "professional_psychology",
        "public_relations",
        "security_studies",
        "sociology",
        "us_foreign_policy",
    ],
    "other": [
        "anatomy",
        "business_ethics",
        "clinical_knowledge",
        "college_medicine",
        "global_facts",
        "human_aging",
        "management",
        "marketing",
        "medical_genetics",
        "miscellaneous",
        "nutrition",
        "professional_accounting",
        "professional_medicine",
        "virology",
    ],
}
_CATEGORY_OF = {s: c for c, subjects in _MMLU_CATEGORIES.items() for s in subjects}


def source_family(source: str) -> str:
    """`mmlu/<subject>` -> `mmlu-<category>`; anything else -> the part before the first `/`."""
    head, _, rest = source.partition("/")
    if head == "mmlu":
        return f"mmlu-{_CATEGORY_OF.get(rest, 'other')}"
    return head


def assign_folds(groups: Sequence[str], n_folds: int) -> np.ndarray:
    """Fold index per row; every row of a group gets the same fold.

    Groups are dealt largest first to the fold with the fewest rows so far (ties: lowest
    index), so folds are about equal in size and the assignment is deterministic. With at
    least as many folds as groups, each group is its own fold (leave one group out).
    """
    names, inverse, counts = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    if n_folds < 2:
        raise ValueError(f"need at least two folds, got {n_folds}")
    if names.size < 2:
        raise ValueError("need at least two groups to hold one out")
    if n_folds >= names.size:
        return inverse.astype(np.int64)
    load = np.zeros(n_folds)
    fold_of = np.zeros(names.size, dtype=np.int64)
    for g in np.argsort(-counts, kind="stable"):
        fold_of[g] = int(np.argmin(load))
        load[fold_of[g]] += counts[g]
    return fold_of[inverse]


def fold_splits(fold_index: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, held-out rows) per fold, in fold order."""
    return [
        (np.flatnonzero(fold_index != f), np.flatnonzero(fold_index == f))
        for f in np.unique(fold_index)
    ]


def percentile_in(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Mid-rank percentile of each score among `reference` (ties count half), in [0, 1]."""
    ref = np.sort(np.asarray(reference, dtype=np.float64))
    s = np.asarray(scores, dtype=np.float64)
    below = np.searchsorted(ref, s, side="left")
    at_or_below = np.searchsorted(ref, s, side="right")
    return (below + at_or_below) / (2.0 * ref.size)


# (train rows, held-out rows) -> (held-out scores, training-row scores) of one fitted router.
FoldFit = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def out_of_fold(fit: FoldFit, splits: list[tuple[np.ndarray, np.ndarray]], n: int) -> np.ndarray:
    """Pooled out-of-fold scores, each fold as a percentile of its own training scores."""
    out = np.zeros(n)
    for train, held in splits:
        held_scores, train_scores = fit(train, held)
        out[held] = percentile_in(held_scores, train_scores)
    return out


def knn_gain(
    train_vectors: np.ndarray, train_gain: np.ndarray, vectors: np.ndarray, k: int = 50
) -> np.ndarray:
    """Mean gain (strong_correct - weak_correct) of the k most similar training prompts."""
    k = min(k, train_vectors.shape[0])
    out = np.zeros(vectors.shape[0])
    for start in range(0, vectors.shape[0], 1024):  # bounds the similarity block's memory
        sims = vectors[start : start + 1024] @ train_vectors.T
        nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        out[start : start + 1024] = train_gain[nearest].mean(axis=1)
    return out


def logistic_l2(
    x: np.ndarray, y: np.ndarray, c: float = 1.0, iterations: int = 25
) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression (penalty 1/(2c)·|w|², intercept free), by Newton."""
    n, d = x.shape
    design = np.hstack([np.asarray(x, np.float64), np.ones((n, 1))])
    target = np.asarray(y, np.float64)
    penalty = np.eye(d + 1) / c
    penalty[d, d] = 0.0
    w = np.zeros(d + 1)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(design @ w)))
        grad = design.T @ (p - target) + penalty @ w
        hess = (design * (p * (1 - p))[:, None]).T @ design + penalty
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    return w[:d], float(w[d])


@dataclass(frozen=True)
class Baselines:
    """Inputs the four baselines need: prompt lengths, embeddings and both labels."""

    lengths: np.ndarray
    vectors: np.ndarray
    weak_correct: np.ndarray
    strong_correct: np.ndarray

    def fits(self) -> dict[str, FoldFit]:
        """Per-fold fitters for the trained baselines (kNN-50, LR with C = 1, both fixed
        beforehand, never tuned on held-out groups)."""
        gain = self.strong_correct.astype(np.float64) - self.weak_correct
        win = self.strong_correct & ~self.weak_correct
        v = self.vectors

        def knn(train: np.ndarray, held: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return knn_gain(v[train], gain[train], v[held]), knn_gain(
                v[train], gain[train], v[train]
            )

        def logistic(train: np.ndarray, held: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            w, b = logistic_l2(v[train], win[train])
            return v[held] @ w + b, v[train] @ w + b

        return {"kNN-50 (embedding)": knn, "L2 logistic regression (embedding)": logistic}

    def scores(self, splits: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
        """Pooled out-of-fold scores of every baseline; random and length need no fitting."""
        n = self.lengths.size
        out = {
            "random": np.random.default_rng(0).random(n),
            "prompt length": np.asarray(self.lengths, np.float64),
        }
        out.update({name: out_of_fold(fit, splits, n) for name, fit in self.fits().items()})
        return out


@dataclass(frozen=True)
class GroupedReport:
    """One router's metrics per group (None where the strong model is not better, so APGR is
    undefined) and pooled over all rows."""

    pooled: RoutingMetrics
    groups: dict[str, RoutingMetrics | None]
    sizes: dict[str, int]


def grouped_report(
    scores: np.ndarray,
    weak_correct: np.ndarray,
    strong_correct: np.ndarray,
    groups: Sequence[str],
    random_draws: bool = False,
) -> GroupedReport:
    """Per-group and pooled metrics; `random_draws` averages 20 random routers instead."""
    labels = np.asarray(groups)

    def metrics(rows: np.ndarray) -> RoutingMetrics | None:
        weak, strong = weak_correct[rows], strong_correct[rows]
        if strong.mean() <= weak.mean():
            return None
        if random_draws:
            return random_router_metrics(weak, strong)
        return routing_metrics(scores[rows], weak, strong)

    every = np.arange(labels.size)
    pooled = metrics(every)
    if pooled is None:
        raise ValueError("the strong model is not better than the weak one on these outcomes")
    names = [str(g) for g in np.unique(labels)]
    return GroupedReport(
        pooled,
        {g: metrics(np.flatnonzero(labels == g)) for g in names},
        {g: int(np.sum(labels == g)) for g in names},
    )


def format_grouped_table(reports: dict[str, GroupedReport], metric: str = "apgr") -> str:
    """Markdown table: one row per group plus the pooled row, one column per router."""
    names = list(reports)
    first = next(iter(reports.values()))
    lines = [
        "| group | n | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]

    def cell(m: RoutingMetrics | None) -> str:
        if m is None:
            return "n/a"
        value = float(getattr(m, metric))
        return f"{value:.3f}" if metric == "apgr" else f"{value:.1%}"

    for group, size in first.sizes.items():
        row = [cell(r.groups[group]) for r in reports.values()]
        lines.append(f"| {group} | {size} | " + " | ".join(row) + " |")
    pooled = [f"**{cell(r.pooled)}**" for r in reports.values()]
    lines.append(f"| **pooled** | {first.pooled.n} | " + " | ".join(pooled) + " |")
    return "\n".join(lines)
