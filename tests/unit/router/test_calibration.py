"""Quality target -> cut points, and the preview of what given cut points should do."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from appliance.router.calibration import (
    QualityCurve,
    build_curve,
    curve_rows,
    cut_points_for_quality,
    expected_at_cut_points,
    tier_targets,
)
from appliance.router.classifier import DEFAULT_MODEL_DIR
from appliance.router.policy import CutPoints, ScoreProfile


def _curve(seed: int = 0, n: int = 4000) -> tuple[QualityCurve, np.ndarray, np.ndarray, np.ndarray]:
    """A curve from a noisy but informative router; the shipped scores are a monotone
    transform of the ranking scores, so share <-> threshold is exact."""
    rng = np.random.default_rng(seed)
    weak = rng.random(n) < 0.7
    strong = weak | (rng.random(n) < 0.6)
    ranking = (strong & ~weak) + rng.normal(0.0, 0.8, n)
    shipped = 1.0 / (1.0 + np.exp(-ranking))
    return build_curve(ranking, weak, strong, shipped), shipped, weak, strong


def _quality_as_routed(
    shipped: np.ndarray, weak: np.ndarray, strong: np.ndarray, top_cut: float
) -> float:
    """Quality relative to all-strong when scores >= top_cut go to the strong model."""
    up = shipped >= top_cut
    return float((strong[up].sum() + weak[~up].sum()) / strong.sum())


def test_curve_runs_from_weak_to_strong_quality() -> None:
    curve, shipped, weak, strong = _curve()
    assert curve.quality[0] == pytest.approx(weak.sum() / strong.sum())
    assert curve.quality[-1] == pytest.approx(1.0)
    assert curve.threshold[0] == pytest.approx(shipped.max())
    assert curve.threshold[-1] == pytest.approx(shipped.min())


@pytest.mark.parametrize("target", [0.9, 0.95, 0.98])
def test_two_tier_cut_point_keeps_the_target_on_the_calibration_prompts(target: float) -> None:
    curve, shipped, weak, strong = _curve()
    (cut,) = cut_points_for_quality(curve, target, 2)
    kept = _quality_as_routed(shipped, weak, strong, cut)
    # The curve is sampled every 1% of traffic: it may overshoot by a little, never miss.
    assert target - 0.002 <= kept <= target + 0.02
    # And it is the cheapest such cut: 2% less traffic up misses the target.
    cheaper = curve.threshold_at(curve.share_at(cut) - 0.02)
    assert _quality_as_routed(shipped, weak, strong, cheaper) < target


def test_higher_targets_send_more_traffic_up() -> None:
    curve, *_ = _curve()
    tops = [cut_points_for_quality(curve, t, 2)[0] for t in (0.85, 0.9, 0.95, 0.98, 1.0)]
    assert tops == sorted(tops, reverse=True)
    assert len(set(tops)) == len(tops)


def test_three_tiers_put_the_next_hardest_band_on_the_middle_tier() -> None:
    curve, *_ = _curve()
    low, high = cut_points_for_quality(curve, 0.95, 3)
    assert tier_targets(0.95, 3) == pytest.approx([0.975, 0.95])
    assert low < high
    assert high == cut_points_for_quality(curve, 0.95, 2)[0]
    assert low == cut_points_for_quality(curve, 0.975, 2)[0]
    four = cut_points_for_quality(curve, 0.94, 4)
    assert four == sorted(four) and len(set(four)) == 3
    assert tier_targets(0.94, 4) == pytest.approx([0.98, 0.96, 0.94])


def test_preview_matches_the_cut_points_it_is_given() -> None:
    curve, *_ = _curve()
    cuts = cut_points_for_quality(curve, 0.95, 3)
    point = expected_at_cut_points(curve, cuts, tier_costs=[0.0, 0.1, 1.0])
    assert sum(point.tier_shares) == pytest.approx(1.0)
    assert all(s > 0 for s in point.tier_shares)
    assert point.quality_low == pytest.approx(0.95, abs=0.002)
    assert point.quality_high == pytest.approx(0.975, abs=0.002)
    expected_cost = point.tier_shares[1] * 0.1 + point.tier_shares[2]
    assert point.cost_share == pytest.approx(expected_cost)
    # Default costs: only the top tier is paid for.
    assert expected_at_cut_points(curve, cuts).cost_share == pytest.approx(point.tier_shares[2])


def test_target_met_by_the_weak_model_sends_nothing_up() -> None:
    curve, *_ = _curve()
    (cut,) = cut_points_for_quality(curve, curve.quality[0] - 0.01, 2)
    assert cut == pytest.approx(curve.threshold[0])
    assert expected_at_cut_points(curve, [cut]).tier_shares[1] == pytest.approx(0.0)


def test_full_quality_keeps_every_tier_reachable() -> None:
    curve, *_ = _curve()
    cuts = cut_points_for_quality(curve, 1.0, 3)
    assert curve.threshold[-1] < cuts[0] < cuts[1]


def test_noisy_bump_does_not_pick_a_share_whose_neighbours_miss() -> None:
    share = (0.0, 0.25, 0.5, 0.75, 1.0)
    # A bump to 0.96 at 25% then a dip: the target 0.95 is only safe from 50% on.
    curve = QualityCurve(share, (0.9, 0.7, 0.5, 0.3, 0.1), (0.88, 0.96, 0.94, 0.97, 1.0))
    assert curve.share_for_quality(0.95) == pytest.approx(0.5 + 0.25 * (0.01 / 0.03))


def test_curve_round_trips_through_router_json_shape() -> None:
    curve, *_ = _curve()
    again = QualityCurve.from_metadata({"quality_curve": json.loads(json.dumps(curve.to_json()))})
    assert again.share == pytest.approx(curve.share)
    assert again.quality == pytest.approx(curve.quality, abs=1e-6)


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        ({}, "missing"),
        ({"quality_curve": {"share": [0, 1], "threshold": [0.9, 0.1]}}, "quality"),
        ({"quality_curve": {"share": [0, 1], "threshold": [0.1, 0.9], "quality": [1, 1]}}, "non-"),
        (
            {"quality_curve": {"share": [0, 0.5], "threshold": [0.9, 0.1], "quality": [1, 1]}},
            "0 to",
        ),
    ],
)
def test_bad_curves_are_rejected_with_the_key(meta: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        QualityCurve.from_metadata(meta)


def test_bad_inputs_are_rejected() -> None:
    curve, *_ = _curve()
    with pytest.raises(ValueError, match="quality_target"):
        cut_points_for_quality(curve, 1.2, 3)
    with pytest.raises(ValueError, match="two tiers"):
        cut_points_for_quality(curve, 0.95, 1)
    with pytest.raises(ValueError, match="ascending"):
        expected_at_cut_points(curve, [0.6, 0.5])
    with pytest.raises(ValueError, match="tier_costs"):
        expected_at_cut_points(curve, [0.5], tier_costs=[0.0, 0.5, 1.0])


def test_report_rows_cover_each_target() -> None:
    curve, *_ = _curve()
    rows = curve_rows(curve, targets=(0.9, 0.95))
    assert [t for t, _ in rows] == [0.9, 0.95]
    assert rows[0][1].tier_shares[-1] < rows[1][1].tier_shares[-1]


def test_shipped_curve_gives_cut_points_the_policy_accepts() -> None:
    metadata = json.loads((Path(DEFAULT_MODEL_DIR) / "router.json").read_text())
    curve = QualityCurve.from_metadata(metadata)
    profile = ScoreProfile.from_metadata(metadata)
    for target in (0.9, 0.95, 0.98, 1.0):
        CutPoints(tuple(cut_points_for_quality(curve, target, 3))).validate(profile)
    point = expected_at_cut_points(curve, cut_points_for_quality(curve, 0.95, 3))
    assert point.quality_low >= 0.95 - 0.002
