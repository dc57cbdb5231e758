"""After every request, answered or not: ledger rows, the client's spend, one live event.

It owns the order that makes accounting safe: rows are committed to the ledger before the
reply completes (a `kill -9` loses no acknowledged row), then the client's month-to-date spend
moves, then the event goes to the bus. A ledger that cannot be written is loud in the log and
in `/admin/stats`, but the client still gets its answer: serving beats accounting.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from appliance.config import SecurityConfig
from appliance.ledger.billing import Attempt, Billing, Outcome
from appliance.ledger.budgets import BudgetStore, Hold
from appliance.ledger.db import Ledger, LedgerWriteError
from appliance.pipeline.context import RequestContext
from appliance.telemetry.bus import EventBus
from appliance.telemetry.events import request_event

log = logging.getLogger("appliance.pipeline")


@dataclass
class Accounting:
    billing: Billing
    budgets: BudgetStore
    bus: EventBus
    # None when the ledger file could not be opened at start-up (reported in /admin/stats).
    ledger: Ledger | None
    security: SecurityConfig

    def outcome(
        self,
        ctx: RequestContext,
        *,
        model: str,
        cache: str,
        reason: str,
        attempts: list[Attempt],
        stream: bool,
        score: float | None = None,
        prompt: str | None = None,
    ) -> Outcome:
        return Outcome(
            request_id=ctx.request_id,
            client_id=ctx.client.id,
            client_name=ctx.client.name,
            model_requested=model,
            cache=cache,
            route_reason=reason,
            score=score,
            stream=stream,
            started_wall=ctx.started_wall,
            latency_ms=(time.perf_counter() - ctx.started) * 1000.0,
            attempts=attempts,
            prompt_text=prompt[:500] if prompt and self.security.log_prompts_in_events else None,
            hold=ctx.hold,
        )

    async def record(self, outcome: Outcome) -> None:
        rows = self.billing.rows(outcome)
        if self.ledger is not None:
            try:
                await self.ledger.record(rows)
            except LedgerWriteError as exc:
                log.error("ledger write failed for %s: %s", outcome.request_id, exc)
        # Release what the request held and count what it really cost, in one step.
        self.budgets.settle(outcome.hold or Hold(outcome.client_id), sum(r.cost_usd for r in rows))
        self.bus.publish(request_event(outcome, rows))
