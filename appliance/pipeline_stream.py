"""The streaming half of the pipeline: escalate until a tier sends its first chunk, then relay.

Once the first chunk is out the stream is committed to that tier: a later failure ends the
stream with one error event (rendered by the API layer) and is neither cached nor billed as
a success. Usage is always requested upstream, filtered for clients that did not ask for it,
and estimated (row marked `estimated`) when a backend sends none. The ledger rows are
committed before the stream's last event. A structured-output request is answered whole,
validated, then replayed as a stream: a client must never receive an invalid answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

import msgspec

from appliance.api.schemas import ChatCompletionChunk
from appliance.backends.registry import Tier
from appliance.cache.policy import is_cacheable_response
from appliance.errors import ApplianceError, BackendError
from appliance.ledger.billing import Attempt, Outcome, estimate_usage
from appliance.output import wants_structured
from appliance.pipeline import (
    ChatReply,
    Pipeline,
    Prepared,
    RequestContext,
    fail_attempt,
    no_tier_answered,
    record_failure,
    start_attempt,
)
from appliance.router.planner import Plan
from appliance.streaming import StreamAssembler, replay_async

_PENDING: set[asyncio.Future[None]] = set()


async def stream(
    pipeline: Pipeline, prepared: Prepared, plan: Plan, ctx: RequestContext
) -> ChatReply:
    if wants_structured(prepared.req):
        whole = msgspec.structs.replace(prepared.req, stream=False)
        reply = await pipeline.complete(dataclasses.replace(prepared, req=whole), plan, ctx)
        assert reply.completion is not None
        return ChatReply(
            reply.headers,
            chunks=replay_async(reply.completion, prepared.req.include_usage),
            after=reply.after,
        )
    attempts: list[Attempt] = []
    reason = plan.reason
    for tier in plan.order:
        if not tier.circuit.allow():
            continue
        assert tier.backend is not None
        attempt = start_attempt(tier, attempts)
        chunks = tier.backend.stream(pipeline.for_tier(prepared.req, tier, ctx.client)).__aiter__()
        try:
            first = await anext(chunks)
        except (BackendError, StopAsyncIteration) as exc:
            reason = fail_attempt(tier, attempt, exc)
            continue
        attempt.backend_s = time.perf_counter() - attempt.began
        headers = pipeline.miss_headers(prepared, ctx, tier, reason, attempts)
        relay = _Relay(pipeline, prepared, ctx, tier, attempts, reason)
        return ChatReply(headers, chunks=relay.run(first, chunks), after=relay.after)
    outcome = pipeline.outcome(prepared, ctx, pipeline.cache_state(prepared), reason, attempts)
    await pipeline.record(outcome)
    raise no_tier_answered(attempts)


class _Relay:
    def __init__(
        self,
        pipeline: Pipeline,
        prepared: Prepared,
        ctx: RequestContext,
        tier: Tier,
        attempts: list[Attempt],
        reason: str,
    ) -> None:
        self.pipeline = pipeline
        self.prepared = prepared
        self.ctx = ctx
        self.tier = tier
        self.attempts = attempts
        self.reason = reason
        self.assembled = StreamAssembler()
        self.body: bytes | None = None
        self.outcome: Outcome | None = None

    async def run(
        self, first: ChatCompletionChunk, rest: AsyncIterator[ChatCompletionChunk]
    ) -> AsyncIterator[ChatCompletionChunk]:
        req = self.prepared.req
        include_usage = req.include_usage
        attempt = self.attempts[-1]
        finished = False
        try:
            chunk: ChatCompletionChunk | None = first
            while chunk is not None:
                self.assembled.add(chunk)
                if include_usage or chunk.usage is None:
                    yield chunk
                elif chunk.choices:
                    yield msgspec.structs.replace(chunk, usage=None)
                chunk = await anext(rest, None)
            finished = True
        except ApplianceError as exc:
            attempt.status = f"error:{getattr(exc, 'kind', 'error')}"
            if isinstance(exc, BackendError):
                record_failure(self.tier, exc)
            raise
        finally:
            attempt.backend_s = time.perf_counter() - attempt.began
            if not finished and attempt.status == "ok":
                attempt.status = "error:client_disconnected"
            self._account(attempt)
            if finished:
                self.tier.circuit.record_success()
                await self._record()
            else:
                # The client may be gone (cancelled generator): record without awaiting here,
                # holding a reference so the task is not collected before it commits.
                task = asyncio.ensure_future(self._record())
                _PENDING.add(task)
                task.add_done_callback(_PENDING.discard)
            await _close(rest)

    def _account(self, attempt: Attempt) -> None:
        attempt.usage = self.assembled.usage
        if attempt.usage is None:
            attempt.usage = estimate_usage(
                self.prepared.req, self.assembled.text(), self.pipeline.count_tokens
            )
            attempt.estimated = True
        completion = self.assembled.completion()
        if (
            attempt.status == "ok"
            and completion is not None
            and self.prepared.store
            and not self.assembled.has_tool_calls
        ):
            body = msgspec.json.encode(completion)
            if is_cacheable_response(msgspec.json.decode(body), self.pipeline.config.cache):
                self.body = body

    async def _record(self) -> None:
        pipeline = self.pipeline
        self.outcome = pipeline.outcome(
            self.prepared, self.ctx, pipeline.cache_state(self.prepared), self.reason, self.attempts
        )
        await pipeline.record(self.outcome)

    async def after(self) -> None:
        if self.outcome is not None and self.body is not None:
            await self.pipeline.finish(self.outcome, self.prepared, self.body)


async def _close(rest: AsyncIterator[ChatCompletionChunk]) -> None:
    closer = getattr(rest, "aclose", None)
    if closer is not None:
        await closer()
