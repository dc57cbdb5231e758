"""One tier served by several replicas of the same model (`base_urls`: one vLLM per GPU or box).

`ReplicaSet` is a `Backend` holding one backend per URL. Each call goes to the replica that
is least loaded by its own `/metrics` (waiting requests first, then KV-cache use, then
running requests; equal loads take turns), and a replica that fails (connection refused,
timeout, 5xx, 429, garbage, a stream that ends before its first chunk) is left for the next
one before the error reaches the cascade: the tier escalates only when every replica failed.
A client error (the upstream's 400/422) is the request's fault and is returned at once.

Health is read in the background: a call ranks the replicas by the loads last seen and, when
they are older than `refresh_s`, starts a refresh it does not wait for, so a slow or dead
replica's probe never delays a request. Each replica has its own circuit breaker, so a dead
one is skipped for `open_s` after `failures_to_open` failures.

It must not know which tier comes next or who calls it (the cascade does).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from appliance.backends.base import Backend, BackendHealth
from appliance.backends.circuit import CircuitBreaker
from appliance.config import CircuitConfig, TierConfig
from appliance.errors import BackendError, BackendRateLimited, EmptyStream
from appliance.schemas import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Completion,
    CompletionRequest,
)

T = TypeVar("T")


@dataclass
class Replica:
    url: str
    backend: Backend
    circuit: CircuitBreaker
    health: BackendHealth | None = None

    def rank(self) -> tuple[bool, bool, int, float, int]:
        """Lower is better: up before down, closed circuit first, then the load."""
        health = self.health or BackendHealth()
        return (
            health.state != "up",
            not self.circuit.would_allow(),
            health.queue_depth or 0,
            round(health.kv_cache_usage or 0.0, 1),  # within 10%: take turns instead
            health.running or 0,
        )


class ReplicaSet:
    def __init__(
        self,
        tier: TierConfig,
        backends: list[tuple[str, Backend]],
        circuit: CircuitConfig,
        *,
        refresh_s: float = 1.0,
    ) -> None:
        self.name = tier.name
        self.model = tier.model or tier.name
        self.replicas = [Replica(url, b, CircuitBreaker(circuit)) for url, b in backends]
        self._refresh_s = refresh_s
        self._checked_at = 0.0
        self._refreshing: asyncio.Task[None] | None = None
        self._turn = itertools.count()

    async def start(self) -> None:
        for replica in self.replicas:
            try:
                await replica.backend.start()
            except Exception as exc:  # one replica down must not take the tier down
                replica.health = BackendHealth(state="down", detail=f"failed to start: {exc}")
                replica.circuit.record_failure()
        await self._refresh()

    async def close(self) -> None:
        if self._refreshing is not None:
            self._refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refreshing
        for replica in self.replicas:
            await replica.backend.close()

    # ----- choosing ------------------------------------------------------------------------

    async def _refresh(self) -> None:
        healths = await asyncio.gather(
            *(r.backend.health() for r in self.replicas), return_exceptions=True
        )
        for replica, health in zip(self.replicas, healths, strict=True):
            if isinstance(health, BaseException):
                health = BackendHealth(state="down", detail=f"{type(health).__name__}: {health}")
            replica.health = health
        self._checked_at = time.monotonic()

    def ranked(self) -> list[Replica]:
        """The replicas best first, by the loads last seen; starts a refresh when stale."""
        stale = time.monotonic() - self._checked_at >= self._refresh_s
        if stale and (self._refreshing is None or self._refreshing.done()):
            self._refreshing = asyncio.ensure_future(self._refresh())
        n = len(self.replicas)
        turn = next(self._turn) % n
        order = sorted(range(n), key=lambda i: (self.replicas[i].rank(), (i - turn) % n))
        return [self.replicas[i] for i in order]

    async def _first_answer(self, call: Callable[[Backend], Awaitable[T]]) -> T:
        """`call` on the best replica, then the next on a failure; the last error if all fail."""
        error: BackendError | None = None
        for replica in self.ranked():
            if not replica.circuit.allow():
                continue
            try:
                result = await call(replica.backend)
            except BackendError as exc:
                limited = isinstance(exc, BackendRateLimited)
                retry_after = exc.retry_after_s if isinstance(exc, BackendRateLimited) else None
                replica.circuit.record_failure(retry_after, rate_limited=limited)
                error = exc
                continue
            replica.circuit.record_success()
            return result
        if error is not None:
            raise error
        raise BackendError(f"tier {self.name}: every replica is cooling down after failures")

    # ----- the Backend protocol -----------------------------------------------------------

    async def chat(self, req: ChatCompletionRequest) -> ChatCompletion:
        return await self._first_answer(lambda backend: backend.chat(req))

    async def text(self, req: CompletionRequest) -> Completion:
        return await self._first_answer(lambda backend: backend.text(req))

    async def stream(self, req: ChatCompletionRequest) -> AsyncIterator[ChatCompletionChunk]:
        first, rest = await self._first_answer(lambda backend: _opened(backend.stream(req)))
        yield first
        async for chunk in rest:
            yield chunk

    async def text_stream(self, req: CompletionRequest) -> AsyncIterator[Completion]:
        first, rest = await self._first_answer(lambda backend: _opened(backend.text_stream(req)))
        yield first
        async for chunk in rest:
            yield chunk

    async def health(self) -> BackendHealth:
        """The best replica's health and load (the router spills only when even the least
        loaded replica is busy); down when none is up."""
        if self._checked_at == 0.0:
            await self._refresh()
        ranked = self.ranked()
        up = [r for r in ranked if r.health is not None and r.health.state == "up"]
        detail = f"{len(up)}/{len(self.replicas)} replicas up"
        if not up:
            return BackendHealth(state="down", detail=detail)
        best = up[0].health or BackendHealth()
        return BackendHealth(
            state="up",
            detail=detail,
            queue_depth=best.queue_depth,
            running=best.running,
            kv_cache_usage=best.kv_cache_usage,
        )


async def _opened(chunks: AsyncIterator[T]) -> tuple[T, AsyncIterator[T]]:
    """A stream up to its first chunk: until then a failure may still go to another replica."""
    iterator = chunks.__aiter__()
    try:
        first = await anext(iterator)
    except StopAsyncIteration:
        raise EmptyStream("the replica ended its stream before the first chunk") from None
    return first, iterator
