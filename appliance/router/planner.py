"""Which tiers a request may try, in which order, and why the first was chosen.

Inputs are already decided facts (the route score, the pinned model, whether the client's
budget caps it to free tiers, the local tier's load); this module only orders tiers. The
route reason it returns is what `x-appliance-route-reason` and the ledger show.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.backends.registry import Tier, TierSet
from appliance.errors import BackendUnavailable, BudgetExceeded, UnknownModel

AUTO = "auto"


@dataclass
class Plan:
    order: list[Tier]
    reason: str


def start_tier(
    tiers: TierSet, model: str, routed_index: int | None, rewrite_pinned: bool
) -> tuple[Tier, str]:
    """The tier the request should start on, before availability is considered."""
    if model != AUTO:
        pinned = tiers.for_model(model)
        if pinned is None:
            names = ", ".join(sorted({AUTO, *(t.model for t in tiers.tiers)}))
            raise UnknownModel(
                f"The model `{model}` does not exist; use one of: {names}", param="model"
            )
        if not rewrite_pinned:
            return pinned, "pinned"
    if routed_index is None:
        return tiers.tiers[0], "cheapest"
    return tiers.tiers[min(routed_index, len(tiers.tiers) - 1)], "score"


def cascade(tiers: list[Tier], start: int) -> list[Tier]:
    """Tiers from `start` upward, then downward: escalation goes to dearer tiers first
    because a cheaper one is the likelier to fail the same request again."""
    return tiers[start:] + list(reversed(tiers[:start]))


def build_plan(
    tiers: TierSet,
    start: Tier,
    reason: str,
    *,
    free_only: bool = False,
    spill_reason: str | None = None,
) -> Plan:
    order = cascade(tiers.tiers, start.index)
    if spill_reason is not None and len(order) > 1 and order[0] is start:
        # A busy local tier: start one tier up, keep the local one as the last resort.
        order = [*order[1:], order[0]]
        reason = spill_reason
    if free_only:
        if not order[0].is_free:
            reason = "budget-cap"
        order = [t for t in order if t.is_free]
        if not order:
            raise BudgetExceeded(
                "Monthly budget reached and no free tier is available; raise the budget or "
                "wait for next month"
            )
    usable = [t for t in order if t.is_available and t.circuit.would_allow()]
    if not usable:
        states = ", ".join(f"{t.name}: {t.status}" for t in tiers.tiers)
        raise BackendUnavailable(f"No tier is available to answer this request ({states})")
    if usable[0] is not order[0] and not reason.startswith("spill"):
        reason = "tier-unavailable" if not order[0].is_available else "circuit-open"
    return Plan(usable, reason)
