"""The live event for one finished request, as the admin API's feed and the TUI show it.

Built here from what the ledger recorded (its rows are the truth about cost), so billing only
does money and the feed never disagrees with the ledger.
"""

from __future__ import annotations

from appliance.admin.messages import RequestEvent
from appliance.ledger.billing import Outcome
from appliance.ledger.rows import LedgerRow


def request_event(outcome: Outcome, rows: list[LedgerRow]) -> RequestEvent:
    final = next((r for r in reversed(rows) if r.status == "ok"), rows[-1] if rows else None)
    return RequestEvent(
        id=outcome.request_id,
        time=outcome.started_wall,
        client=outcome.client_name,
        model=outcome.model_requested,
        tier=final.tier if final else "none",
        cache=outcome.cache,
        route_reason=outcome.route_reason,
        status=final.status if final else "error:no_tier",
        latency_ms=outcome.latency_ms,
        score=outcome.score,
        prompt_tokens=final.prompt_tokens if final else 0,
        completion_tokens=final.completion_tokens if final else 0,
        cost_usd=sum(r.cost_usd for r in rows),
        baseline_usd=sum(r.baseline_usd for r in rows),
        attempts=len(rows),
        stream=outcome.stream,
        prompt=outcome.prompt_text,
    )
