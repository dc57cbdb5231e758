"""Legacy `/v1/completions` (a raw prompt, no chat template) through the same tiers.

Kept deliberately small: the tier is the pinned model's or the cheapest available one, with
the same escalation, circuit breakers, caps, ledger rows and events as chat. The semantic
cache and the complexity router are chat-only (both key on the last user turn of a
conversation, which a raw continuation prompt does not have).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import msgspec

from appliance.api.schemas import Completion, CompletionRequest
from appliance.backends.registry import Tier
from appliance.errors import BackendError, InvalidRequest
from appliance.ledger.billing import Attempt, Outcome
from appliance.pipeline import (
    Pipeline,
    RequestContext,
    base_headers,
    check_sampling,
    fail_attempt,
    no_tier_answered,
    record_failure,
    start_attempt,
)
from appliance.router.planner import build_plan, start_tier


@dataclass
class TextReply:
    headers: dict[str, str]
    completion: Completion | None = None
    chunks: AsyncIterator[Completion] | None = None


def check_text_request(req: CompletionRequest) -> None:
    prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
    if not prompts or not all(prompts):
        raise InvalidRequest("`prompt` must be a non-empty string", param="prompt")
    check_sampling(req.n, req.max_tokens, req.temperature, req.top_p)


async def text_completion(
    pipeline: Pipeline, req: CompletionRequest, ctx: RequestContext
) -> TextReply:
    check_text_request(req)
    start, reason = start_tier(pipeline.tiers, req.model, None, rewrite_pinned=False)
    plan = build_plan(pipeline.tiers, start, reason)
    attempts: list[Attempt] = []
    for tier in plan.order:
        if not tier.circuit.allow():
            continue
        assert tier.backend is not None
        attempt = start_attempt(tier, attempts)
        capped = _capped(req, tier, ctx)
        try:
            if req.stream:
                chunks = tier.backend.text_stream(capped).__aiter__()
                first = await anext(chunks)
            else:
                completion = await tier.backend.text(capped)
        except (BackendError, StopAsyncIteration) as exc:
            reason = fail_attempt(tier, attempt, exc)
            continue
        attempt.backend_s = time.perf_counter() - attempt.began
        headers = {**base_headers(ctx, tier.name, reason, attempts), "x-appliance-cache": "bypass"}
        if req.stream:
            return TextReply(
                headers, chunks=_relay(pipeline, req, ctx, tier, attempts, reason, first, chunks)
            )
        tier.circuit.record_success()
        attempt.usage = completion.usage
        await pipeline.record(_outcome(req, ctx, reason, attempts))
        return TextReply(headers, completion=completion)
    await pipeline.record(_outcome(req, ctx, reason, attempts))
    raise no_tier_answered(attempts)


def _capped(req: CompletionRequest, tier: Tier, ctx: RequestContext) -> CompletionRequest:
    limit = req.max_tokens
    for cap in (ctx.client.max_tokens, tier.config.max_tokens_cap):
        if cap is not None:
            limit = min(limit, cap)
    return msgspec.structs.replace(req, max_tokens=limit)


async def _relay(
    pipeline: Pipeline,
    req: CompletionRequest,
    ctx: RequestContext,
    tier: Tier,
    attempts: list[Attempt],
    reason: str,
    first: Completion,
    rest: AsyncIterator[Completion],
) -> AsyncIterator[Completion]:
    attempt = attempts[-1]
    try:
        chunk: Completion | None = first
        while chunk is not None:
            if chunk.usage is not None:
                attempt.usage = chunk.usage
            if req.include_usage or chunk.usage is None:
                yield chunk
            elif chunk.choices:
                yield msgspec.structs.replace(chunk, usage=None)
            chunk = await anext(rest, None)
        tier.circuit.record_success()
    except BackendError as exc:
        attempt.status = f"error:{exc.kind}"
        record_failure(tier, exc)
        raise
    finally:
        attempt.backend_s = time.perf_counter() - attempt.began
        # Shielded: a client that hangs up mid-stream must not cancel the ledger write.
        await asyncio.shield(pipeline.record(_outcome(req, ctx, reason, attempts)))


def _outcome(
    req: CompletionRequest, ctx: RequestContext, reason: str, attempts: list[Attempt]
) -> Outcome:
    return Outcome(
        request_id=ctx.request_id,
        client_id=ctx.client.id,
        client_name=ctx.client.name,
        model_requested=req.model,
        cache="bypass",
        route_reason=reason,
        score=None,
        stream=req.stream,
        started_wall=ctx.started_wall,
        latency_ms=(time.perf_counter() - ctx.started) * 1000.0,
        attempts=attempts,
    )
