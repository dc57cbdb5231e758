"""Grouped evaluation: whole groups held out, baselines in the same folds, per-group reports."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.router.grouped import (
    Baselines,
    assign_folds,
    fold_splits,
    format_grouped_table,
    grouped_report,
    knn_gain,
    logistic_l2,
    out_of_fold,
    percentile_in,
    source_family,
)

SUBJECTS = [
    "gsm8k",
    "mmlu/astronomy",
    "mmlu/philosophy",
    "mmlu/high_school_mathematics",
    "mmlu/sociology",
    "mmlu/virology",
    "mmlu/professional_law",
    "mmlu/college_physics",
    "mmlu/marketing",
    "mmlu/formal_logic",
    "mmlu/econometrics",
    "mmlu/nutrition",
]


def _groups(seed: int = 0, n: int = 3000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Uneven sizes, like the real subjects (100 to 800 rows).
    weights = rng.uniform(0.2, 2.0, len(SUBJECTS))
    return rng.choice(np.array(SUBJECTS), size=n, p=weights / weights.sum())


@pytest.mark.parametrize("n_folds", [2, 4, 10, 12, 50])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_group_is_ever_on_both_sides_of_a_split(n_folds: int, seed: int) -> None:
    groups = _groups(seed)
    splits = fold_splits(assign_folds(groups, n_folds))
    held_count = np.zeros(groups.size, dtype=int)
    for train, held in splits:
        assert set(groups[train]).isdisjoint(set(groups[held]))
        assert train.size + held.size == groups.size and held.size > 0
        held_count[held] += 1
    assert np.all(held_count == 1)  # every row is scored exactly once, out of fold


def test_source_families_are_held_out_whole_too() -> None:
    groups = _groups()
    families = np.array([source_family(g) for g in groups])
    splits = fold_splits(assign_folds(families, 10))
    assert len(splits) == len(set(families))  # fewer families than folds: one family per fold
    for train, held in splits:
        assert len(set(families[held])) == 1
        assert set(groups[train]).isdisjoint(set(groups[held]))


def test_folds_are_balanced_and_deterministic() -> None:
    groups = _groups()
    first = assign_folds(groups, 4)
    assert np.array_equal(first, assign_folds(groups, 4))
    sizes = np.bincount(first)
    assert sizes.max() < 1.6 * sizes.min()
    assert len(np.unique(assign_folds(groups, 100))) == len(SUBJECTS)


def test_fold_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="two folds"):
        assign_folds(["a", "b"], 1)
    with pytest.raises(ValueError, match="two groups"):
        assign_folds(["a", "a"], 2)


def test_source_family_follows_mmlu_categories() -> None:
    assert source_family("gsm8k") == "gsm8k"
    assert source_family("mmlu/college_physics") == "mmlu-stem"
    assert source_family("mmlu/professional_law") == "mmlu-humanities"
    assert source_family("mmlu/econometrics") == "mmlu-social_sciences"
    assert source_family("mmlu/virology") == "mmlu-other"
    assert source_family("mmlu/not_a_subject") == "mmlu-other"
    assert source_family("mt-bench/writing") == "mt-bench"


def test_percentile_is_mid_rank_in_the_reference() -> None:
    ref = np.array([1.0, 2.0, 3.0, 4.0])
    assert percentile_in(np.array([0.0, 2.0, 2.5, 9.0]), ref) == pytest.approx(
        [0.0, 0.375, 0.5, 1.0]
    )


def test_out_of_fold_removes_a_fold_wide_offset() -> None:
    """Each fold's model adds a different constant; after `percentile_in` the pooled
    scores rank by the signal, not by which fold a row was in."""
    rng = np.random.default_rng(0)
    groups = _groups()
    signal = rng.normal(size=groups.size)
    splits = fold_splits(assign_folds(groups, 4))
    offsets = {int(held[0]): 10.0 * k for k, (_, held) in enumerate(splits)}

    def fit(train: np.ndarray, held: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        offset = offsets[int(held[0])]
        return signal[held] + offset, signal[train] + offset

    pooled = out_of_fold(fit, splits, groups.size)
    assert np.corrcoef(pooled, signal)[0, 1] > 0.97


def test_knn_gain_averages_the_nearest_neighbours() -> None:
    train = np.eye(4, dtype=np.float32)
    gain = np.array([1.0, 0.0, -1.0, 0.0])
    query = np.array([[0.9, 0.1, 0.0, 0.0], [0.0, 0.1, 0.9, 0.0]], dtype=np.float32)
    assert knn_gain(train, gain, query, k=1) == pytest.approx([1.0, -1.0])
    assert knn_gain(train, gain, query, k=2) == pytest.approx([0.5, -0.5])
    assert knn_gain(train, gain, query, k=99) == pytest.approx([0.0, 0.0])


def test_logistic_l2_reaches_the_regularised_optimum() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 5))
    y = (x @ np.array([2.0, -1.0, 0.0, 0.5, 0.0]) + rng.normal(size=500)) > 0
    c = 0.5
    w, b = logistic_l2(x, y, c=c)
    p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
    assert np.abs(x.T @ (p - y) + w / c).max() < 1e-6  # gradient of the penalised loss
    assert abs(float(np.sum(p - y))) < 1e-6  # the intercept is not penalised
    assert w[0] > 1.0 and w[1] < -0.5


def _outcomes(groups: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectors whose first axis carries the chance that only the strong model is right,
    the same way in every group: a signal that transfers to unseen groups."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(groups.size, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    weak = rng.random(groups.size) < 0.7
    strong = weak | (rng.random(groups.size) < 1.0 / (1.0 + np.exp(-6 * vectors[:, 0])))
    return vectors, weak, strong


def test_baselines_learn_a_signal_that_transfers_across_groups() -> None:
    groups = _groups()
    vectors, weak, strong = _outcomes(groups)
    lengths = np.random.default_rng(1).integers(10, 500, groups.size).astype(float)
    splits = fold_splits(assign_folds(groups, 5))
    scores = Baselines(lengths, vectors, weak, strong).scores(splits)
    assert list(scores) == [
        "random",
        "prompt length",
        "kNN-50 (embedding)",
        "L2 logistic regression (embedding)",
    ]
    apgr = {
        n: grouped_report(s, weak, strong, groups, random_draws=n == "random").pooled.apgr
        for n, s in scores.items()
    }
    assert apgr["kNN-50 (embedding)"] > 0.6 and apgr["L2 logistic regression (embedding)"] > 0.6
    assert abs(apgr["random"] - 0.5) < 0.03 and abs(apgr["prompt length"] - 0.5) < 0.06


def test_report_marks_groups_where_apgr_is_undefined() -> None:
    groups = np.array(["a"] * 50 + ["b"] * 50)
    weak = np.array([True, False] * 50)
    strong = np.concatenate([np.ones(50, bool), weak[50:]])  # no gap in group b
    report = grouped_report(np.arange(100.0), weak, strong, groups)
    assert report.groups["b"] is None and report.groups["a"] is not None
    assert report.sizes == {"a": 50, "b": 50}
    table = format_grouped_table({"x": report, "y": report})
    assert "| b | 50 | n/a | n/a |" in table
    assert table.splitlines()[-1].startswith("| **pooled** | 100 |")
    assert "%" in format_grouped_table({"x": report}, "cpt50")
