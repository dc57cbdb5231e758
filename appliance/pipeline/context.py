"""What the pipeline knows about one request before it starts, and what it hands back.

`RequestContext` is filled by the API layer (who is asking, how they want the cache used);
the replies carry the body or the chunks, the `x-appliance-*` headers, and the work to run
once the response is sent. No HTTP types: headers are a plain dict the API layer copies.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from appliance.ledger.billing import Attempt
from appliance.ledger.budgets import Hold
from appliance.security.keys import ANONYMOUS, Client

B = TypeVar("B")
C = TypeVar("C")


@dataclass
class RequestContext:
    started: float = field(default_factory=time.perf_counter)
    started_wall: float = field(default_factory=time.time)
    request_id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    client: Client = ANONYMOUS
    # From the Cache-Control request header.
    no_store: bool = False
    no_cache: bool = False
    # What this request holds against the client's budget (grown before each paid attempt).
    hold: Hold = field(init=False)

    def __post_init__(self) -> None:
        self.hold = Hold(self.client.id)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0


@dataclass
class Reply(Generic[B, C]):
    """A whole answer (`body`) or a stream (`chunks`), never both."""

    headers: dict[str, str]
    body: B | None = None
    chunks: AsyncIterator[C] | None = None
    # Runs after the response is sent (cache write): never on the response's critical path.
    after: Callable[[], Awaitable[None]] | None = None


def base_headers(
    ctx: RequestContext, tier: str, reason: str, attempts: list[Attempt] | None = None
) -> dict[str, str]:
    """The headers every answer carries; overhead is our time outside backend calls."""
    backend_s = sum(a.backend_s for a in attempts or [])
    overhead_ms = ctx.elapsed_ms() - backend_s * 1000.0
    return {
        "x-appliance-tier": tier,
        "x-appliance-route-reason": reason,
        "x-appliance-overhead-ms": f"{max(overhead_ms, 0.0):.3f}",
        "x-request-id": ctx.request_id,
    }
