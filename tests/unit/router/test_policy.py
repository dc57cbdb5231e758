"""Score -> tier policy: cut points, shares, and the validation errors operators see."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from appliance.router.policy import CutPoints, RoutingPolicy, ScoreProfile, validate_shares

# A profile whose scores are uniform on [0.05, 0.87].
PROFILE = ScoreProfile(tuple(np.linspace(0.05, 0.87, 101)), 0.05, 0.87)


def test_two_cut_points_make_three_tiers() -> None:
    policy = RoutingPolicy.fixed([0.3, 0.6], PROFILE)
    assert [policy.tier(s) for s in (0.0, 0.29, 0.3, 0.59, 0.6, 1.0)] == [0, 0, 1, 1, 2, 2]


def test_n_minus_one_cut_points_make_n_tiers() -> None:
    cuts = CutPoints((0.2, 0.4, 0.6, 0.8))
    assert [cuts.tier(s) for s in (0.1, 0.3, 0.5, 0.7, 0.9)] == [0, 1, 2, 3, 4]


def test_unreachable_cut_point_names_the_key_and_the_ceiling() -> None:
    with pytest.raises(ValueError, match=r"router\.cut_points\[1\]: 0\.999 is above .*\(0\.87\)"):
        RoutingPolicy.fixed([0.3, 0.999], PROFILE)


def test_cut_point_below_every_score_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"router\.cut_points\[0\].*lowest score"):
        RoutingPolicy.fixed([0.01, 0.5], PROFILE)


def test_descending_cut_points_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"router\.cut_points\[1\].*ascending"):
        RoutingPolicy.fixed([0.6, 0.3], PROFILE)


def test_cut_point_outside_unit_interval_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"router\.cut_points\[0\]: -0\.1 is outside"):
        CutPoints((-0.1, 0.5)).validate()


def test_wrong_number_of_cut_points_for_tiers() -> None:
    with pytest.raises(ValueError, match="3 tiers need 2 cut points"):
        RoutingPolicy(3, PROFILE, cut_points=CutPoints((0.5,)))


@pytest.mark.parametrize(
    ("shares", "message"),
    [
        ([0.5, 0.6, -0.1], r"tier_shares\[2\]"),
        ([0.5, 0.3, 0.1], "sum to 0.9"),
        ([1.0], "at least two"),
    ],
)
def test_share_validation_names_the_key(shares: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_shares(shares)


def test_setting_both_cut_points_and_shares_is_an_error() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        RoutingPolicy(3, PROFILE, cut_points=CutPoints((0.3, 0.6)), shares=[0.5, 0.4, 0.1])


def test_shares_use_training_quantiles_before_the_window_fills() -> None:
    policy = RoutingPolicy.by_shares([0.6, 0.3, 0.1], PROFILE, min_window=100)
    low, high = policy.cut_points().values
    assert low == pytest.approx(0.05 + 0.6 * 0.82)
    assert high == pytest.approx(0.05 + 0.9 * 0.82)


def test_shares_follow_live_traffic_once_the_window_fills() -> None:
    policy = RoutingPolicy.by_shares([0.6, 0.3, 0.1], PROFILE, window=1000, min_window=100)
    rng = np.random.default_rng(0)
    # Live traffic is easier than training: scores bunch low.
    tiers = [policy.route(float(s)) for s in rng.beta(2, 8, 3000)]
    late = np.bincount(tiers[1000:], minlength=3) / 2000
    assert late == pytest.approx([0.6, 0.3, 0.1], abs=0.04)


def test_window_is_safe_under_concurrent_writers() -> None:
    policy = RoutingPolicy.by_shares([0.5, 0.5], PROFILE, window=2000, min_window=10)

    def work() -> None:
        for s in np.linspace(0.1, 0.8, 500):
            policy.route(float(s))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The window holds all 2,000 writes, so its median is exactly the stream's.
    assert policy.cut_points().values[0] == pytest.approx(0.45, abs=1e-9)


def test_profile_loads_from_router_json(tmp_path: Path) -> None:
    path = tmp_path / "router.json"
    path.write_text(json.dumps({"score_quantiles": [0.1, 0.5, 0.9], "score_range": [0.1, 0.9]}))
    profile = ScoreProfile.load(path)
    assert profile.quantile(0.25) == pytest.approx(0.3)
    assert profile.score_max == 0.9


def test_profile_rejects_unsorted_quantiles() -> None:
    with pytest.raises(ValueError, match="score_quantiles"):
        ScoreProfile.from_metadata({"score_quantiles": [0.5, 0.1], "score_range": [0, 1]})
