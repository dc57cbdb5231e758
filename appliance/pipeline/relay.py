"""Relaying a stream that has started: chunks to the client, what happened to the ledger.

Once the first chunk is out the stream is committed to its tier: a later failure ends the
stream with one error event (rendered by the API layer), counts against the tier's circuit,
and is neither cached nor billed as a success. A client that hangs up marks the attempt
`client_disconnected` and closes the backend's stream (which stops its generation). Usage is
always requested upstream and filtered out for clients that did not ask for it. The request's
ledger rows are committed before the stream's last event, or, when the client is gone, in a
task the relay keeps alive until it commits.

Chat and legacy text streams share this relay; what differs (how chunks add up to an answer)
is the `Assembler` each passes in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, TypeVar

import msgspec

from appliance.backends.registry import Tier
from appliance.errors import ApplianceError, BackendError
from appliance.ledger.billing import Attempt
from appliance.pipeline.cascade import record_failure
from appliance.schemas import Usage

_PENDING: set[asyncio.Future[None]] = set()


class Chunk(Protocol):
    @property
    def usage(self) -> Usage | None: ...

    @property
    def choices(self) -> list[Any]: ...


C = TypeVar("C", bound=Chunk)


class Assembler(Protocol[C]):  # type: ignore[misc]
    def add(self, chunk: C) -> None: ...


# Called once the stream is over: finished (every chunk relayed) or not.
Settle = Callable[[bool], Awaitable[None]]


async def relay(
    first: C,
    rest: AsyncIterator[C],
    *,
    tier: Tier,
    attempt: Attempt,
    include_usage: bool,
    assembler: Assembler[C],
    settle: Settle,
) -> AsyncIterator[C]:
    finished = failed = False
    try:
        chunk: C | None = first
        while chunk is not None:
            assembler.add(chunk)
            if include_usage or chunk.usage is None:
                yield chunk
            elif chunk.choices:
                yield msgspec.structs.replace(chunk, usage=None)  # type: ignore[type-var]
            chunk = await anext(rest, None)
        finished = True
    except ApplianceError as exc:
        failed = True
        attempt.status = f"error:{getattr(exc, 'kind', 'error')}"
        if isinstance(exc, BackendError):
            record_failure(tier, exc)
        raise
    finally:
        attempt.backend_s = time.perf_counter() - attempt.began
        if not finished and attempt.status == "ok":
            attempt.status = "error:client_disconnected"
        if finished or failed:
            await settle(finished)
        else:
            # The client may be gone (a cancelled generator): settle without awaiting here,
            # holding a reference so the task is not collected before it commits.
            task = asyncio.ensure_future(settle(False))
            _PENDING.add(task)
            task.add_done_callback(_PENDING.discard)
        await _close(rest)


async def _close(rest: AsyncIterator[Any]) -> None:
    closer = getattr(rest, "aclose", None)
    if closer is not None:
        await closer()
