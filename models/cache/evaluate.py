"""Scoring trap pairs: cosine, guards and verifier per pair, rates per category, and the
choice of an operating point.

It owns the metrics and the protocol (for each pair `a` is stored and `b` asked; a hit on a
same-answer pair counts toward recall, a hit on a different-answer pair is a wrong answer).
It must not train anything or write reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from appliance.cache import guards
from appliance.cache.verifier import Verifier
from appliance.config import CacheConfig
from appliance.text import normalise_text
from models.cache.embeddings import embed_cached
from models.cache.verifier_data import Example

CANDIDATES = [0.60, 0.65, 0.70, 0.75, 0.80, 0.85]
VERIFIER = [round(0.05 * i, 2) for i in range(4, 20)] + [0.97, 0.98, 0.99]
# Operating-point constraints on validation, tighter than the goal (<= 2% overall, <= 5% per
# category) so that the margin absorbs the gap between validation and unseen traps.
MAX_WRONG_ALL = 0.01
MAX_WRONG_CATEGORY = 0.01
# Real paraphrase-site pairs (MeanCache): their labels are too noisy to calibrate on, but the
# point must not serve more of their different-answer pairs than this.
MAX_WRONG_REAL = 0.03
REAL = "meancache"


@dataclass
class Scored:
    name: str
    rows: list[Example]
    cos: np.ndarray
    guard_ok: np.ndarray
    prob: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def same(self) -> np.ndarray:
        return np.array([r.same for r in self.rows])

    @property
    def categories(self) -> np.ndarray:
        return np.array([r.category for r in self.rows])

    def hits(
        self, model: str | None, candidate: float, verifier: float, use_guards: bool
    ) -> np.ndarray:
        hit = self.cos >= candidate
        if use_guards:
            hit &= self.guard_ok
        if model is not None:
            hit &= self.prob[model] >= verifier
        return hit


def load_pairs(path: Path) -> list[Example]:
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [Example(r["a"], r["b"], bool(r["same_answer"]), r["category"]) for r in rows]


def score(name: str, rows: list[Example]) -> Scored:
    texts = sorted({normalise_text(t) for r in rows for t in (r.a, r.b)})
    vectors = embed_cached(name, texts)
    where = {t: i for i, t in enumerate(texts)}
    a = vectors[[where[normalise_text(r.a)] for r in rows]]
    b = vectors[[where[normalise_text(r.b)] for r in rows]]
    config = CacheConfig()
    ok = np.array(
        [guards.check(normalise_text(r.b), normalise_text(r.a), config) is None for r in rows]
    )
    return Scored(name, rows, np.clip((a * b).sum(axis=1), 0.0, 1.0), ok)


def add_verifier(scored: Scored, model: str, verifier: Verifier) -> None:
    pairs = [(normalise_text(r.a), normalise_text(r.b)) for r in scored.rows]
    scored.prob[model] = verifier.score_pairs(pairs, scored.cos.tolist())


@dataclass(frozen=True)
class Rates:
    per_category: dict[str, float]  # recall for same-answer kinds, wrong rate otherwise
    recall: float  # hits on same-answer pairs / same-answer pairs
    wrong_all: float  # hits on different-answer pairs / all pairs
    pairs: int


def rates(scored: Scored, hit: np.ndarray, skip: tuple[str, ...] = ()) -> Rates:
    cats = scored.categories
    keep = ~np.isin(cats, skip)
    same = scored.same
    per = {str(c): float(hit[cats == c].mean()) for c in sorted(set(cats[keep].tolist()))}
    recall = float(hit[keep & same].mean()) if (keep & same).any() else float("nan")
    wrong = float((hit & keep & ~same).sum() / max(1, keep.sum()))
    return Rates(per, recall, wrong, int(keep.sum()))


def operating_point(
    val: Scored, model: str, use_guards: bool, skip: tuple[str, ...] = ()
) -> tuple[float, float, Rates]:
    """The (loose cosine, verifier threshold) with the best validation recall whose wrong
    rate is within the caps overall and in every different-answer category; `skip` leaves
    categories out (a leave-one-category-out model never sees its category, even here)."""
    best: tuple[float, float, float, Rates] | None = None
    same_kinds = {str(c) for c, s in zip(val.categories, val.same, strict=True) if s}
    real_different = (val.categories == REAL) & ~val.same
    for candidate in CANDIDATES:
        for threshold in VERIFIER:
            hit = val.hits(model, candidate, threshold, use_guards)
            r = rates(val, hit, (*skip, REAL))
            worst = max((v for c, v in r.per_category.items() if c not in same_kinds), default=0)
            if r.wrong_all > MAX_WRONG_ALL or worst > MAX_WRONG_CATEGORY:
                continue
            if real_different.any() and hit[real_different].mean() > MAX_WRONG_REAL:
                continue
            if best is None or r.recall > best[2]:
                best = (candidate, threshold, r.recall, r)
    if best is None:
        candidate, threshold = CANDIDATES[-1], VERIFIER[-1]
        r = rates(val, val.hits(model, candidate, threshold, use_guards), (*skip, REAL))
        return candidate, threshold, r
    return best[0], best[1], best[3]
