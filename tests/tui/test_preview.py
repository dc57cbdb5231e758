"""The routing preview's arithmetic, with no UI: the numbers an operator confirms."""

from __future__ import annotations

import pytest

from appliance.admin.messages import RequestEvent, RoutingPreview, TierSetting
from tui.preview import (
    check_cut_points,
    check_quality_target,
    check_shares,
    cut_points_for_shares,
    describe_expected,
    parse_numbers,
    preview_split,
    tier_for,
)

TIERS = [
    TierSetting("local", "small", True, True, 0.0, 0.0),
    TierSetting("mid", "medium", True, True, 1.0, 2.0),
    TierSetting("frontier", "large", True, True, 10.0, 30.0),
]


def event(
    score: float | None,
    *,
    cache: str = "miss",
    reason: str = "score",
    prompt: int = 1000,
    completion: int = 100,
    cost: float = 0.0,
) -> RequestEvent:
    return RequestEvent(
        id="r",
        time=0.0,
        client="app",
        model="auto",
        tier="local",
        cache=cache,
        route_reason=reason,
        status="ok",
        latency_ms=1.0,
        score=score,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=cost,
    )


def test_a_score_on_a_cut_point_goes_to_the_tier_above() -> None:
    assert tier_for(0.3, [0.3, 0.7]) == 1
    assert tier_for(0.2999, [0.3, 0.7]) == 0
    assert tier_for(0.7, [0.3, 0.7]) == 2


def test_a_disabled_tier_hands_traffic_up_then_down() -> None:
    assert tier_for(0.5, [0.3, 0.7], [True, False, True]) == 2
    assert tier_for(0.9, [0.3, 0.7], [True, True, False]) == 1


def test_split_counts_and_cost_at_the_new_tiers_prices() -> None:
    events = [
        event(0.1, cost=0.01),
        event(0.5, cost=0.01),
        event(0.8, cost=0.01),
        event(0.9, cost=0.01),
    ]
    preview = preview_split(events, [0.3, 0.7], TIERS)
    assert preview.counts == (1, 1, 2)
    # mid: 1000*1 + 100*2 per 1M; frontier: 1000*10 + 100*30 per 1M, twice
    assert preview.cost_usd == pytest.approx(0.0012 + 2 * 0.013)
    assert preview.current_cost_usd == pytest.approx(0.04)
    assert preview.shares == (0.25, 0.25, 0.5)
    assert "split 1/1/2 (local/mid/frontier)" in preview.describe(["local", "mid", "frontier"])


def test_cache_hits_pinned_and_unscored_requests_are_not_rerouted() -> None:
    events = [event(0.9, cache="hit"), event(0.9, reason="pinned"), event(None), event(0.9)]
    preview = preview_split(events, [0.3, 0.7], TIERS)
    assert preview.counts == (0, 0, 1)
    assert preview.skipped == 3


def test_no_routed_requests_says_so() -> None:
    preview = preview_split([], [0.3, 0.7], TIERS)
    assert preview.requests == 0
    assert "nothing to preview" in preview.describe(["a", "b", "c"])


def test_wrong_number_of_cut_points_is_an_error() -> None:
    with pytest.raises(ValueError, match="3 tiers need 2 cut points"):
        preview_split([], [0.5], TIERS)


def test_shares_become_quantile_cut_points() -> None:
    scores = [i / 100 for i in range(101)]
    assert cut_points_for_shares(scores, [0.5, 0.3, 0.2]) == pytest.approx([0.5, 0.8])


def test_equal_quantiles_never_leave_an_empty_tier() -> None:
    values = cut_points_for_shares([0.5] * 10, [0.5, 0.25, 0.25])
    assert values[0] < values[1]


def test_parse_numbers_accepts_commas_spaces_and_percent() -> None:
    assert parse_numbers("0.3, 0.7") == [0.3, 0.7]
    assert parse_numbers("70% 20% 10%") == pytest.approx([0.7, 0.2, 0.1])
    with pytest.raises(ValueError, match="item 2"):
        parse_numbers("0.3 x")


def test_checks_name_the_bad_value() -> None:
    with pytest.raises(ValueError, match=r"cut point 2: 0\.2 must be above 0\.3"):
        check_cut_points([0.3, 0.2], 3)
    with pytest.raises(ValueError, match="sum to"):
        check_shares([0.5, 0.3, 0.3], 3)
    check_cut_points([0.3, 0.7], 3)
    check_shares([0.5, 0.3, 0.2], 3)


def test_quality_target_accepts_one_share_between_half_and_all() -> None:
    assert check_quality_target(parse_numbers("95%")) == 0.95
    assert check_quality_target(parse_numbers("0.9")) == 0.9
    with pytest.raises(ValueError, match="one quality target"):
        check_quality_target(parse_numbers("0.9 0.95"))
    with pytest.raises(ValueError, match="between 50% and 100%"):
        check_quality_target(parse_numbers("40%"))


def test_expected_quality_reads_as_a_range_only_when_it_is_one() -> None:
    point = RoutingPreview([0.46, 0.53], [0.5, 0.2, 0.3], 0.95, 0.97, 0.31, 0.95)
    text = describe_expected(point)
    assert "cut points 0.46, 0.53" in text and "traffic 50%/20%/30%" in text
    assert "quality 95.0%-97.0%" in text and "31% of its cost" in text
    exact = RoutingPreview([0.5], [0.6, 0.4], 0.95, 0.95, 0.4)
    assert "quality 95.0% of" in describe_expected(exact)
