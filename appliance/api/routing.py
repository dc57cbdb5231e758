"""The routing knobs as an operator sees them: the quality/cost curve of the shipped router,
and what a quality target or a set of cut points should give (a preview before applying).

Pure reads of the runtime: the curve comes with the router model (`router.json`), relative
tier costs from the price table. Applying a change is `PATCH /admin/config`.
"""

from __future__ import annotations

from appliance.admin.messages import CurvePoint, RoutingPreview
from appliance.config import quality_target_problem
from appliance.errors import InvalidRequest, NotFound
from appliance.router.calibration import (
    QualityCurve,
    cut_points_for_quality,
    expected_at_cut_points,
)
from appliance.runtime import Runtime


def tier_costs(runtime: Runtime) -> list[float]:
    """Each tier's per-token price relative to the top tier's (0 for free tiers)."""
    prices = [runtime.accounting.billing.price(t.name) for t in runtime.tiers.tiers]
    top = prices[-1].input + prices[-1].output
    if top <= 0:
        return [0.0] * (len(prices) - 1) + [1.0]
    return [(p.input + p.output) / top for p in prices]


def preview(
    runtime: Runtime, quality_target: float | None, cut_points: list[float] | None
) -> RoutingPreview | None:
    """What these settings should do; None with a single tier (nothing to route)."""
    n_tiers = len(runtime.tiers.tiers)
    if n_tiers < 2:
        return None
    curve = _curve(runtime)
    if cut_points is None:
        if quality_target is None:
            cut_points = list(runtime.policy.cut_points().values)
        else:
            if (problem := quality_target_problem(quality_target)) is not None:
                raise InvalidRequest(problem)
            cut_points = cut_points_for_quality(curve, quality_target, n_tiers)
    if len(cut_points) != n_tiers - 1:
        raise InvalidRequest(f"cut_points: {n_tiers} tiers need {n_tiers - 1} cut points")
    try:
        point = expected_at_cut_points(curve, cut_points, tier_costs(runtime))
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    return RoutingPreview(
        cut_points=list(point.cut_points),
        tier_shares=list(point.tier_shares),
        quality_low=point.quality_low,
        quality_high=point.quality_high,
        cost_share=point.cost_share,
        quality_target=quality_target,
    )


def _curve(runtime: Runtime) -> QualityCurve:
    curve = runtime.curve
    if curve is None:
        raise NotFound("the router model in use has no quality curve; retrain it with train.py")
    return curve


def curve_points(runtime: Runtime) -> list[CurvePoint]:
    curve = _curve(runtime)
    return [
        CurvePoint(s, t, q)
        for s, t, q in zip(curve.share, curve.threshold, curve.quality, strict=True)
    ]


def target_in_force(runtime: Runtime) -> float | None:
    router = runtime.config.router
    if router.cut_points is not None or router.target_shares is not None:
        return None
    return router.quality_target
