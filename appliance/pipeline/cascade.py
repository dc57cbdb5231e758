"""The one escalation loop: try a tier, classify the failure, trip its circuit, try the next.

Chat, streamed chat, legacy text completions (and whatever comes next) all call `cascade`
with their own `call` (what "an answer" means for them: a whole completion, or a stream's
first chunk; it may note usage on the attempt) and get back the tier that answered with the
attempts so far. So the rules
live once:
- a tier fault (connection, timeout, 5xx, 429, garbage, an empty stream) is recorded on the
  attempt and the tier's circuit, and the next tier in the plan is tried;
- a client error (`InvalidRequest`: the backend rejected the request's shape) is returned to
  the client at once; it is not escalated and never counts against the tier;
- an answer that fails the requested output format (`InvalidOutput`, raised by `check`) is
  escalated once; a second one stops the cascade (the format is likely unsatisfiable);
- when no tier is left, the attempts are recorded (`record`) and one clear error is raised.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from appliance.backends.registry import Tier
from appliance.errors import (
    BackendError,
    BackendRateLimited,
    BackendUnavailable,
    BudgetExceeded,
    InvalidOutput,
    InvalidRequest,
)
from appliance.ledger.billing import Attempt
from appliance.router.planner import Plan

R = TypeVar("R")
# A second answer in the wrong format: stop paying for more.
_MAX_INVALID_OUTPUTS = 2


@dataclass
class Attempts:
    """The tries one request made, in order, and the route reason they add up to."""

    reason: str
    items: list[Attempt] = field(default_factory=list)

    def start(self, tier: Tier) -> Attempt:
        attempt = Attempt(tier.name, tier.model, time.perf_counter(), 0.0)
        self.items.append(attempt)
        return attempt

    @property
    def last(self) -> Attempt:
        return self.items[-1]


@dataclass
class Answer(Generic[R]):
    tier: Tier
    result: R
    attempts: Attempts


Record = Callable[[Attempts], Awaitable[None]]


async def cascade(
    plan: Plan[Tier],
    call: Callable[[Tier, Attempt], Awaitable[R]],
    record: Record,
    check: Callable[[Tier, R], None] | None = None,
    admit: Callable[[Tier], bool] | None = None,
) -> Answer[R]:
    """Try `plan.order` until a tier answers; see the module docstring for the rules.
    `admit` may skip a tier before any call (a budget that cannot hold a paid attempt)."""
    attempts = Attempts(plan.reason)
    invalid_outputs = 0
    refused = False
    for tier in plan.order:
        if admit is not None and not admit(tier):
            refused = True
            continue
        if not tier.circuit.allow():
            continue
        attempt = attempts.start(tier)
        try:
            result = await call(tier, attempt)
        except asyncio.CancelledError:
            # The client hung up: the backend call is abandoned; its row still goes in.
            attempt.backend_s = time.perf_counter() - attempt.began
            attempt.status = "error:client_disconnected"
            await asyncio.shield(record(attempts))
            raise
        except BackendError as exc:
            attempt.backend_s = time.perf_counter() - attempt.began
            attempt.status = f"error:{exc.kind}"
            record_failure(tier, exc)
            attempts.reason = f"escalated:{exc.kind}"
            continue
        except InvalidRequest:
            attempt.backend_s = time.perf_counter() - attempt.began
            tier.circuit.record_success()  # the tier answered; the request was wrong
            raise
        attempt.backend_s = time.perf_counter() - attempt.began
        tier.circuit.record_success()  # it answered (a stream: its first chunk arrived)
        try:
            if check is not None:
                check(tier, result)
        except InvalidOutput:
            attempt.status = "error:invalid_output"
            attempts.reason = "escalated:invalid_output"
            invalid_outputs += 1
            if invalid_outputs >= _MAX_INVALID_OUTPUTS:
                break
            continue
        return Answer(tier, result, attempts)
    await record(attempts)
    if refused and not attempts.items:
        raise BudgetExceeded("Monthly budget reached: no tier this client may still pay for")
    raise no_tier_answered(attempts.items)


def record_failure(tier: Tier, exc: BackendError) -> None:
    """Feed a tier's circuit: a 429 cools it for its Retry-After at once."""
    if isinstance(exc, BackendRateLimited):
        tier.circuit.record_failure(exc.retry_after_s, rate_limited=True)
    else:
        tier.circuit.record_failure()


def no_tier_answered(attempts: list[Attempt]) -> BackendUnavailable | InvalidOutput:
    tried = ", ".join(f"{a.tier} ({a.status})" for a in attempts) or "none"
    if any(a.status == "error:invalid_output" for a in attempts):
        return InvalidOutput(
            f"No tier produced an answer matching the requested format; tried: {tried}"
        )
    return BackendUnavailable(f"No tier could answer this request; tried: {tried}")
