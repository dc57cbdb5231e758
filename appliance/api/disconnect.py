"""A client that hangs up stops its work: the request's task is cancelled at once.

Litestar cancels a streaming response when the client disconnects, but a non-streaming
handler keeps awaiting its backend: a client that asked the only local model for a long
answer and left after 2 s held it for a minute. Once the body is read, the next ASGI message
can only be `http.disconnect`, so waiting for it beside the work tells us when to cancel.
The cancellation reaches the backend (llama.cpp stops generating, an upstream connection is
closed) and the cascade records the attempt as `client_disconnected`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

from litestar import Request

T = TypeVar("T")


async def unless_disconnected(
    request: Request[Any, Any, Any], work: Coroutine[Any, Any, T]
) -> tuple[T, bool]:
    """`work`'s result and False; or, when the client left first, (None-like, True)."""
    task: asyncio.Task[T] = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()  # we are being cancelled ourselves (shutdown): take the work along
        raise
    finally:
        watcher.cancel()
    if task.done():
        return task.result(), False
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task  # the client is gone: whatever the work ended with, nobody reads it
    return None, True  # type: ignore[return-value]


async def _disconnected(request: Request[Any, Any, Any]) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
