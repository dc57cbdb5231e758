"""Which tiers a request may try, in which order, and why the first was chosen.

Inputs are already decided facts (the route score, the pinned model, whether the client's
budget caps it to free tiers, the local tier's load); this module only orders tiers. The
route reason it returns is what `x-appliance-route-reason` and the ledger show.

It plans over `TierStatus`, a protocol it defines, so the router never imports the backends:
the pipeline hands in its tiers (which satisfy the protocol) and gets the same objects back in
order. Replay hands in plain indices to `cascade`, so the offline audit escalates exactly as
the gateway does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from appliance.errors import BackendUnavailable, BudgetExceeded, UnknownModel

AUTO = "auto"


class TierStatus(Protocol):
    """What the planner needs to know about a tier, right now."""

    @property
    def index(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def is_available(self) -> bool:
        """Enabled, configured and started (a missing key or failed load is not)."""
        ...

    @property
    def is_free(self) -> bool:
        """Costs nothing per token (a budget-capped client may still use it)."""
        ...

    @property
    def status(self) -> str:
        """One word or phrase for error messages: up, disabled, circuit open, ..."""
        ...

    def would_allow(self) -> bool:
        """Whether its circuit breaker would let a request through now (no side effect)."""
        ...


T = TypeVar("T")
TS = TypeVar("TS", bound=TierStatus)


@dataclass
class Plan(Generic[TS]):
    order: list[TS]
    reason: str


def find_tier(tiers: Sequence[TS], model: str) -> TS | None:
    """The tier a client pins by asking for its model or tier name."""
    return next((t for t in tiers if model in (t.model, t.name)), None)


def start_tier(
    tiers: Sequence[TS], model: str, routed_index: int | None, rewrite_pinned: bool
) -> tuple[TS, str]:
    """The tier the request should start on, before availability is considered."""
    if model != AUTO:
        pinned = find_tier(tiers, model)
        if pinned is None:
            names = ", ".join(sorted({AUTO, *(t.model for t in tiers)}))
            raise UnknownModel(
                f"The model `{model}` does not exist; use one of: {names}", param="model"
            )
        if not rewrite_pinned:
            return pinned, "pinned"
    if routed_index is None:
        return tiers[0], "cheapest"
    return tiers[min(routed_index, len(tiers) - 1)], "score"


def cascade(items: Sequence[T], start: int) -> list[T]:
    """Items from `start` upward, then downward: escalation goes to dearer tiers first
    because a cheaper one is the likelier to fail the same request again."""
    return [*items[start:], *reversed(items[:start])]


def build_plan(
    tiers: Sequence[TS],
    start: TS,
    reason: str,
    *,
    free_only: bool = False,
    spill_reason: str | None = None,
) -> Plan[TS]:
    order = cascade(tiers, start.index)
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
    usable = [t for t in order if t.is_available and t.would_allow()]
    if not usable:
        states = ", ".join(f"{t.name}: {t.status}" for t in tiers)
        raise BackendUnavailable(f"No tier is available to answer this request ({states})")
    if usable[0] is not order[0] and not reason.startswith("spill"):
        reason = "tier-unavailable" if not order[0].is_available else "circuit-open"
    return Plan(usable, reason)
