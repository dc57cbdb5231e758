"""Legacy `/v1/completions` (a raw prompt, no chat template) through the same tiers.

Kept deliberately small: the tier is the pinned model's or the cheapest available one, with
the same cascade, circuit breakers, caps, budgets, ledger rows and events as chat. The
semantic cache and the complexity router are chat-only (both key on the last user turn of a
conversation, which a raw continuation prompt does not have).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import msgspec

from appliance.backends.registry import Tier
from appliance.errors import EmptyStream
from appliance.ledger.billing import Attempt, Outcome
from appliance.pipeline.cascade import Attempts, cascade
from appliance.pipeline.checks import check_text_request
from appliance.pipeline.context import Reply, RequestContext, base_headers
from appliance.pipeline.parts import Parts
from appliance.pipeline.relay import relay
from appliance.schemas import Completion, CompletionRequest, Usage

TextReply = Reply[Completion, Completion]
_Stream = tuple[Completion, AsyncIterator[Completion]]


class _TextAssembler:
    """What a text stream adds up to, for the ledger: its text and its usage."""

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.parts: list[str] = []

    def add(self, chunk: Completion) -> None:
        if chunk.usage is not None:
            self.usage = chunk.usage
        self.parts.extend(c.text for c in chunk.choices)


async def text(parts: Parts, req: CompletionRequest, ctx: RequestContext) -> TextReply:
    check_text_request(req)
    plan = await parts.plan(req.model, None, ctx)
    record = partial(_record, parts, req, ctx)

    async def whole(tier: Tier, attempt: Attempt) -> Completion:
        completion = await tier.serving.text(_capped(req, tier, ctx))
        attempt.usage = completion.usage
        return completion

    async def first_chunk(tier: Tier, attempt: Attempt) -> _Stream:
        chunks = tier.serving.text_stream(_capped(req, tier, ctx)).__aiter__()
        first = await anext(chunks, None)
        if first is None:
            raise EmptyStream(f"tier {tier.name} ended its stream before the first chunk")
        return first, chunks

    prompt = req.prompt if isinstance(req.prompt, str) else "\n".join(req.prompt)
    prompt_tokens = parts.count_tokens(prompt) + 4

    def admit(tier: Tier) -> bool:
        return parts.admit(tier, prompt_tokens, _capped(req, tier, ctx).max_tokens, ctx)

    if not req.stream:
        answer = await cascade(plan, whole, record, admit=admit)
        await record(answer.attempts)
        headers = _headers(ctx, answer.tier, answer.attempts)
        return TextReply(headers, body=answer.result)
    streamed = await cascade(plan, first_chunk, record, admit=admit)
    first, rest = streamed.result
    assembled = _TextAssembler()

    async def settle(finished: bool) -> None:
        streamed.attempts.last.usage = assembled.usage
        await record(streamed.attempts)

    chunks = relay(
        first,
        rest,
        tier=streamed.tier,
        attempt=streamed.attempts.last,
        include_usage=req.include_usage,
        assembler=assembled,
        settle=settle,
    )
    return TextReply(_headers(ctx, streamed.tier, streamed.attempts), chunks=chunks)


def _capped(req: CompletionRequest, tier: Tier, ctx: RequestContext) -> CompletionRequest:
    limit = req.max_tokens
    for cap in (ctx.client.max_tokens, tier.config.max_tokens_cap):
        if cap is not None:
            limit = min(limit, cap)
    return msgspec.structs.replace(req, max_tokens=limit)


def _headers(ctx: RequestContext, tier: Tier, attempts: Attempts) -> dict[str, str]:
    headers = base_headers(ctx, tier.name, attempts.reason, attempts.items)
    headers["x-appliance-cache"] = "bypass"
    return headers


async def _record(
    parts: Parts, req: CompletionRequest, ctx: RequestContext, attempts: Attempts
) -> None:
    prompt = req.prompt if isinstance(req.prompt, str) else "\n".join(req.prompt)
    result: Outcome = parts.accounting.outcome(
        ctx,
        model=req.model,
        cache="bypass",
        reason=attempts.reason,
        attempts=attempts.items,
        stream=req.stream,
        prompt=prompt,
    )
    await parts.accounting.record(result)
