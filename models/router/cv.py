"""Nested grouped cross-validation of the head, with the baselines in the same folds.

Outer folds hold out whole groups (MMLU subjects and GSM8K; or whole source families). Inside
each outer training set an inner grouped split (whole groups again) picks one point of the
pre-declared `BOOST_GRID` by pooled APGR; the outer held-out groups are scored once, by a model
that never saw them and whose hyper-parameters were not chosen on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from head import (
    BOOST_GRID,
    BoostParams,
    Distance,
    OodBlend,
    Prior,
    TwoModelBoost,
    is_multiple_choice,
)

from appliance.router.grouped import (
    assign_folds,
    fold_splits,
    out_of_fold,
    percentile_in,
)
from appliance.router.metrics import routing_metrics

INNER_FOLDS = 4


@dataclass(frozen=True)
class Data:
    """Everything the head and the baselines are fitted on, one row per prompt."""

    vectors: np.ndarray  # (n, 384) unit MiniLM vectors
    inputs: np.ndarray  # (n, features + 1): task features, then the complexity count
    strong: np.ndarray
    weak: np.ndarray
    groups: np.ndarray  # the group a row belongs to (its source)


@dataclass(frozen=True)
class FoldModel:
    train: np.ndarray
    held: np.ndarray
    params: BoostParams
    model: TwoModelBoost


def fit_boost(data: Data, rows: np.ndarray, params: BoostParams) -> TwoModelBoost:
    return TwoModelBoost(params).fit(
        data.inputs[rows], data.strong[rows], data.weak[rows], data.groups[rows]
    )


def grid_scores(
    data: Data, rows: np.ndarray, n_folds: int, log: Callable[[str], None]
) -> dict[BoostParams, float]:
    """Pooled grouped APGR of every grid point, on `rows` split into `n_folds` group folds."""
    splits = fold_splits(assign_folds(data.groups[rows], n_folds))
    out = {}
    for params in BOOST_GRID:

        def fit(a: np.ndarray, b: np.ndarray, p: BoostParams = params) -> tuple[np.ndarray, ...]:
            model = fit_boost(data, rows[a], p)
            return model.gain(data.inputs[rows[b]]), model.gain(data.inputs[rows[a]])

        oof = out_of_fold(fit, splits, rows.size)  # type: ignore[arg-type]
        out[params] = routing_metrics(oof, data.weak[rows], data.strong[rows]).apgr
        log(f"    {params.label()}: grouped APGR {out[params]:.4f}")
    return out


def nested_fold_models(
    data: Data, splits: list[tuple[np.ndarray, np.ndarray]], log: Callable[[str], None]
) -> list[FoldModel]:
    """One model per outer fold, its hyper-parameters picked by the inner grouped split."""
    models = []
    for k, (train, held) in enumerate(splits):
        held_groups = sorted(set(data.groups[held]))
        log(f"  outer fold {k + 1}/{len(splits)}: holding out {', '.join(held_groups)}")
        scores = grid_scores(data, train, INNER_FOLDS, log)
        best = max(BOOST_GRID, key=lambda p: scores[p])
        models.append(FoldModel(train, held, best, fit_boost(data, train, best)))
    return models


def head_oof(data: Data, folds: list[FoldModel]) -> np.ndarray:
    """Pooled out-of-fold head scores (percentile of each fold model's training scores)."""
    out = np.zeros(data.strong.size)
    for f in folds:
        held = f.model.gain(data.inputs[f.held])
        out[f.held] = percentile_in(held, f.model.gain(data.inputs[f.train]))
    return out


def blended_oof(data: Data, folds: list[FoldModel], blend: OodBlend) -> np.ndarray:
    """Pooled out-of-fold scores of the whole shipped computation (head + out-of-domain blend
    toward the prior), every part refitted per fold; `blend` uses no outcome label."""
    out = np.zeros(data.strong.size)
    counts = data.inputs[:, -1]
    mc = is_multiple_choice(data.inputs)
    for f in folds:
        distance = Distance(data.vectors[f.train], data.inputs[f.train])
        gain_train = f.model.gain(data.inputs[f.train])
        centre, scale = float(gain_train.mean()), float(gain_train.std() or 1.0)
        prior = Prior(counts[f.train], 1.0 / (1.0 + np.exp(-(gain_train - centre) / scale)))

        def score(
            rows: np.ndarray,
            f: FoldModel = f,
            distance: Distance = distance,
            prior: Prior = prior,
            centre: float = centre,
            scale: float = scale,
        ) -> np.ndarray:
            head = 1.0 / (1.0 + np.exp(-(f.model.gain(data.inputs[rows]) - centre) / scale))
            maxsim = distance.max_similarity(data.vectors[rows], data.inputs[rows])
            w = blend.weight(maxsim, mc[rows])
            return np.asarray(head + w * (prior(counts[rows]) - head))

        out[f.held] = percentile_in(score(f.held), score(f.train))
    return out


def held_out_maxsim(data: Data, n_folds: int) -> np.ndarray:
    """Each row's highest similarity to same-format centroids fitted without it (no labels
    used): multiple-choice rows with their whole subject held out; open rows (GSM8K, the only
    open source, so one group) with their items held out in `n_folds` interleaved folds."""
    out = np.zeros(data.strong.size)
    mc = is_multiple_choice(data.inputs)
    fold = assign_folds(data.groups, n_folds)
    open_rows = np.flatnonzero(~mc)
    fold[open_rows] = np.arange(open_rows.size) % n_folds
    for train, held in fold_splits(fold):
        distance = Distance(data.vectors[train], data.inputs[train])
        out[held] = distance.max_similarity(data.vectors[held], data.inputs[held])
    return out
