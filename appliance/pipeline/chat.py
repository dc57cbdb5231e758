"""The chat request, top to bottom, as DESIGN.md draws it:

    check -> key the cache -> exact lookup -> embed once -> semantic lookup (hit: done)
          -> classify -> plan tiers -> cascade (whole answer, or a stream's first chunk)
          -> enforce output -> ledger (durable before the reply completes)
          -> cache write (after the response is sent)

Each step is one short function over the request's `Prepared` state; no HTTP types appear
here. `api/openai.py` decodes the request, calls `Pipeline.chat`, encodes the reply and runs
`reply.after` once the response is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

from appliance.backends.registry import Tier
from appliance.errors import EmptyStream
from appliance.ledger.billing import Attempt, Outcome, estimate_usage
from appliance.pipeline import caching
from appliance.pipeline.caching import Prepared
from appliance.pipeline.cascade import Answer, Attempts, cascade
from appliance.pipeline.checks import check_chat_request
from appliance.pipeline.context import Reply, RequestContext, base_headers
from appliance.pipeline.output import validate_completion, wants_structured
from appliance.pipeline.parts import Parts, readers_only
from appliance.pipeline.relay import relay
from appliance.router.planner import Plan
from appliance.schemas import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest
from appliance.streaming import StreamAssembler, replay_async

ChatReply = Reply[ChatCompletion, ChatCompletionChunk]
Stream = tuple[ChatCompletionChunk, AsyncIterator[ChatCompletionChunk]]


async def chat(parts: Parts, req: ChatCompletionRequest, ctx: RequestContext) -> ChatReply:
    check_chat_request(req, parts.config.limits.max_json_depth)
    prepared = caching.prepare(req, ctx, parts.config.cache, parts.routes(req.model))
    if (reply := await serve_hit(parts, prepared, ctx, exact_only=True)) is not None:
        return reply
    if prepared.key is not None and prepared.text:
        prepared.vector = await parts.embedder.embed(prepared.text)  # one vector: cache+router
    if (reply := await serve_hit(parts, prepared, ctx, exact_only=False)) is not None:
        return reply
    caching.claim_entry(prepared, parts.cache)
    routed = classify(parts, prepared)
    plan = readers_only(await parts.plan(req.model, routed, ctx), req)
    if req.stream and not wants_structured(req):
        return await stream(parts, prepared, plan, ctx)
    reply = await complete(parts, prepared, plan, ctx)
    if req.stream and reply.body is not None:
        # A structured answer is validated whole, then streamed: never an invalid one.
        chunks = replay_async(reply.body, req.include_usage)
        return ChatReply(reply.headers, chunks=chunks, after=reply.after)
    return reply


async def serve_hit(
    parts: Parts, prepared: Prepared, ctx: RequestContext, exact_only: bool
) -> ChatReply | None:
    found = caching.lookup(parts.cache, prepared, exact_only)
    if found is None:
        return None
    lookup, cached = found
    completion = caching.restamp(cached, ctx)
    attempt = Attempt("cache", completion.model, ctx.started, 0.0, usage=completion.usage)
    await parts.accounting.record(outcome(parts, prepared, ctx, "hit", "cache-hit", [attempt]))
    headers = {
        **base_headers(ctx, "cache", "cache-hit"),
        "x-appliance-cache": "hit",
        "x-appliance-cache-entry": lookup.entry_id or "",
        "x-appliance-cache-similarity": f"{lookup.similarity or 1.0:.4f}",
    }
    if prepared.req.stream:
        return ChatReply(headers, chunks=replay_async(completion, prepared.req.include_usage))
    return ChatReply(headers, body=completion)


def classify(parts: Parts, prepared: Prepared) -> int | None:
    """The routed tier index, from the same vector the cache used; None when not routed."""
    if not parts.routes(prepared.req.model) or prepared.vector is None:
        return None
    score = parts.classifier.score(prepared.vector[None, :], [prepared.text])
    prepared.score = float(score[0])
    return parts.policy.route(prepared.score)


async def complete(
    parts: Parts, prepared: Prepared, plan: Plan[Tier], ctx: RequestContext
) -> ChatReply:
    req = prepared.req

    async def call(tier: Tier, attempt: Attempt) -> ChatCompletion:
        completion = await tier.serving.chat(parts.for_tier(req, tier, ctx))
        attempt.usage = completion.usage  # billed even if its format fails the check
        return completion

    def check(tier: Tier, completion: ChatCompletion) -> None:
        validate_completion(req, completion, tier.name)

    record = partial(record_failed, parts, prepared, ctx)
    answer = await cascade(plan, call, record, check, admit=admission(parts, req, ctx))
    completion, attempt = answer.result, answer.attempts.last
    if attempt.usage is None:
        text = "".join(c.message.content or "" for c in completion.choices)
        attempt.usage = estimate_usage(req, text, parts.count_tokens)
        attempt.estimated = True
    attempts = answer.attempts
    await parts.accounting.record(
        outcome(parts, prepared, ctx, prepared.cache_state, attempts.reason, attempts.items)
    )
    body = storable(parts, prepared, ctx, answer.tier, completion)
    after = partial(caching.store, parts.cache, prepared, body, ctx)
    return ChatReply(miss_headers(prepared, ctx, answer), body=completion, after=after)


async def stream(
    parts: Parts, prepared: Prepared, plan: Plan[Tier], ctx: RequestContext
) -> ChatReply:
    req = prepared.req

    async def call(tier: Tier, attempt: Attempt) -> Stream:
        chunks = tier.serving.stream(parts.for_tier(req, tier, ctx)).__aiter__()
        first = await anext(chunks, None)
        if first is None:
            raise EmptyStream(f"tier {tier.name} ended its stream before the first chunk")
        return first, chunks

    record = partial(record_failed, parts, prepared, ctx)
    answer = await cascade(plan, call, record, admit=admission(parts, req, ctx))
    first, rest = answer.result
    assembled = StreamAssembler()
    stored: list[bytes] = []

    async def settle(finished: bool) -> None:
        attempt = answer.attempts.last
        attempt.usage = assembled.usage
        if attempt.usage is None:
            attempt.usage = estimate_usage(req, assembled.text(), parts.count_tokens)
            attempt.estimated = True
        if finished and attempt.status == "ok" and not assembled.has_tool_calls:
            body = storable(parts, prepared, ctx, answer.tier, assembled.completion())
            stored.extend([body] if body else [])
        attempts = answer.attempts
        await parts.accounting.record(
            outcome(parts, prepared, ctx, prepared.cache_state, attempts.reason, attempts.items)
        )

    async def after() -> None:
        await caching.store(parts.cache, prepared, stored[0] if stored else None, ctx)

    chunks = relay(
        first,
        rest,
        tier=answer.tier,
        attempt=answer.attempts.last,
        include_usage=req.include_usage,
        assembler=assembled,
        settle=settle,
    )
    return ChatReply(miss_headers(prepared, ctx, answer), chunks=chunks, after=after)


def storable(
    parts: Parts,
    prepared: Prepared,
    ctx: RequestContext,
    tier: Tier,
    completion: ChatCompletion | None,
) -> bytes | None:
    limit = parts.for_tier(prepared.req, tier, ctx).token_limit
    return caching.storable_body(
        prepared, completion, parts.config.cache, answered_by=(tier.name, tier.model), limit=limit
    )


def admission(
    parts: Parts, req: ChatCompletionRequest, ctx: RequestContext
) -> Callable[[Tier], bool]:
    """Before each attempt: hold its worst case against the client's budget."""
    prompt_tokens = estimate_usage(req, "", parts.count_tokens).prompt_tokens

    def admit(tier: Tier) -> bool:
        limit = parts.for_tier(req, tier, ctx).token_limit or 0
        return parts.admit(tier, prompt_tokens, limit, ctx)

    return admit


async def record_failed(
    parts: Parts, prepared: Prepared, ctx: RequestContext, attempts: Attempts
) -> None:
    """No tier answered: the attempts still become ledger rows and an event."""
    await parts.accounting.record(
        outcome(parts, prepared, ctx, prepared.cache_state, attempts.reason, attempts.items)
    )


def outcome(
    parts: Parts,
    prepared: Prepared,
    ctx: RequestContext,
    cache: str,
    reason: str,
    attempts: list[Attempt],
) -> Outcome:
    last = prepared.req.messages[-1].text() if prepared.req.messages else None
    return parts.accounting.outcome(
        ctx,
        model=prepared.req.model,
        cache=cache,
        reason=reason,
        attempts=attempts,
        stream=prepared.req.stream,
        score=prepared.score,
        prompt=last,
    )


def miss_headers(prepared: Prepared, ctx: RequestContext, answer: Answer[Any]) -> dict[str, str]:
    headers = base_headers(ctx, answer.tier.name, answer.attempts.reason, answer.attempts.items)
    headers["x-appliance-cache"] = prepared.cache_state
    if prepared.store and prepared.entry_id:
        headers["x-appliance-cache-entry"] = prepared.entry_id
    if prepared.similarity is not None:
        headers["x-appliance-cache-similarity"] = f"{prepared.similarity:.4f}"
    if prepared.score is not None:
        headers["x-appliance-route-score"] = f"{prepared.score:.4f}"
    return headers
