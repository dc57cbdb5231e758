"""The request path, top to bottom: check -> plan tiers -> call with escalation -> reply.

Each stage is one short method and no HTTP types appear here: `api/openai.py` decodes the
request, calls `Pipeline.chat`, and encodes the `ChatReply`. Stages that later work adds
(cache lookup, classifier, ledger, events) slot in where the comments in `chat` say; until
they exist the pipeline does not pretend they do: `auto` means "the cheapest available tier".
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import msgspec

from appliance.api.schemas import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest
from appliance.backends.registry import Tier, TierSet
from appliance.config import Config
from appliance.errors import BackendError, BackendUnavailable, InvalidRequest, UnknownModel

AUTO = "auto"
MAX_N = 8


@dataclass
class RequestContext:
    started: float = field(default_factory=time.perf_counter)
    request_id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    client: str = "anonymous"
    namespace: str = "shared"


@dataclass
class Plan:
    """Tiers to try, in order, and why the first one was chosen."""

    order: list[Tier]
    reason: str


@dataclass
class Attempt:
    tier: str
    ok: bool
    backend_s: float
    error: str = ""


@dataclass
class ChatReply:
    headers: dict[str, str]
    completion: ChatCompletion | None = None
    chunks: AsyncIterator[ChatCompletionChunk] | None = None
    attempts: list[Attempt] = field(default_factory=list)


class Pipeline:
    def __init__(self, config: Config, tiers: TierSet) -> None:
        self.config = config
        self.tiers = tiers

    async def chat(self, req: ChatCompletionRequest, ctx: RequestContext) -> ChatReply:
        check_request(req)
        # cache lookup and the complexity classifier slot in here (they need the embedding)
        plan = self.plan(req)
        if req.stream:
            return await self._stream(req, plan, ctx)
        return await self._complete(req, plan, ctx)

    # -- choose tiers ----------------------------------------------------------------------

    def plan(self, req: ChatCompletionRequest) -> Plan:
        if req.model == AUTO:
            start, reason = self._cheapest(), "cheapest"
        else:
            pinned = self.tiers.for_model(req.model)
            if pinned is None:
                raise UnknownModel(
                    f"The model `{req.model}` does not exist; use `auto` or one of "
                    f"{', '.join(t.model for t in self.tiers.tiers)}",
                    param="model",
                )
            start, reason = pinned, "pinned"
        order = cascade(self.tiers.tiers, start.index)
        if not order:
            raise BackendUnavailable("No tier is available to answer this request")
        if order[0] is not start:
            reason = "tier-unavailable"
        return Plan(order, reason)

    def _cheapest(self) -> Tier:
        return next((t for t in self.tiers.tiers if t.is_available), self.tiers.tiers[0])

    # -- call backends, escalating on failure ---------------------------------------------

    def _for_tier(self, req: ChatCompletionRequest, tier: Tier) -> ChatCompletionRequest:
        cap = tier.config.max_tokens_cap
        limit = req.token_limit
        if cap is not None and (limit is None or limit > cap):
            return msgspec.structs.replace(req, max_tokens=cap, max_completion_tokens=None)
        return req

    async def _complete(
        self, req: ChatCompletionRequest, plan: Plan, ctx: RequestContext
    ) -> ChatReply:
        attempts: list[Attempt] = []
        reason = plan.reason
        for tier in plan.order:
            assert tier.backend is not None
            began = time.perf_counter()
            try:
                completion = await tier.backend.chat(self._for_tier(req, tier))
            except BackendError as exc:
                attempts.append(Attempt(tier.name, False, time.perf_counter() - began, exc.kind))
                reason = f"escalated:{exc.kind}"
                continue
            attempts.append(Attempt(tier.name, True, time.perf_counter() - began))
            headers = reply_headers(tier, reason, ctx, attempts)
            return ChatReply(headers, completion=completion, attempts=attempts)
        raise no_tier_answered(attempts)

    async def _stream(self, req: ChatCompletionRequest, plan: Plan, ctx: RequestContext) -> ChatReply:
        """Escalate until a tier yields its first chunk; after that the stream is committed."""
        attempts: list[Attempt] = []
        reason = plan.reason
        for tier in plan.order:
            assert tier.backend is not None
            began = time.perf_counter()
            chunks = tier.backend.stream(self._for_tier(req, tier)).__aiter__()
            try:
                first = await anext(chunks)
            except (BackendError, StopAsyncIteration) as exc:
                kind = exc.kind if isinstance(exc, BackendError) else "empty_stream"
                attempts.append(Attempt(tier.name, False, time.perf_counter() - began, kind))
                reason = f"escalated:{kind}"
                continue
            attempts.append(Attempt(tier.name, True, time.perf_counter() - began))
            headers = reply_headers(tier, reason, ctx, attempts)
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            return ChatReply(headers, chunks=relay(first, chunks, include_usage), attempts=attempts)
        raise no_tier_answered(attempts)


def check_request(req: ChatCompletionRequest) -> None:
    """What msgspec's types cannot say."""
    if not req.messages:
        raise InvalidRequest("`messages` must contain at least one message", param="messages")
    if req.n is not None and not 1 <= req.n <= MAX_N:
        raise InvalidRequest(f"`n` must be between 1 and {MAX_N}", param="n")
    limit = req.token_limit
    if limit is not None and limit < 1:
        raise InvalidRequest("`max_tokens` must be at least 1", param="max_tokens")
    if req.temperature is not None and not 0.0 <= req.temperature <= 2.0:
        raise InvalidRequest("`temperature` must be between 0 and 2", param="temperature")
    if req.top_p is not None and not 0.0 <= req.top_p <= 1.0:
        raise InvalidRequest("`top_p` must be between 0 and 1", param="top_p")


def cascade(tiers: list[Tier], start: int) -> list[Tier]:
    """Available tiers from `start` upward, then downward: escalation goes to dearer tiers
    first because a cheaper one is the likelier to fail the same request again."""
    up = [t for t in tiers[start:] if t.is_available]
    down = [t for t in reversed(tiers[:start]) if t.is_available]
    return up + down


def reply_headers(
    tier: Tier, reason: str, ctx: RequestContext, attempts: list[Attempt]
) -> dict[str, str]:
    backend_s = sum(a.backend_s for a in attempts)
    overhead_ms = (time.perf_counter() - ctx.started - backend_s) * 1000.0
    return {
        "x-appliance-tier": tier.name,
        "x-appliance-route-reason": reason,
        "x-appliance-overhead-ms": f"{max(overhead_ms, 0.0):.3f}",
        "x-request-id": ctx.request_id,
    }


def no_tier_answered(attempts: list[Attempt]) -> BackendUnavailable:
    tried = ", ".join(f"{a.tier} ({a.error})" for a in attempts) or "none"
    return BackendUnavailable(f"No tier could answer this request; tried: {tried}")


async def relay(
    first: ChatCompletionChunk,
    rest: AsyncIterator[ChatCompletionChunk],
    include_usage: bool,
) -> AsyncIterator[ChatCompletionChunk]:
    """Pass chunks through; usage goes to the client only if it asked for it."""
    try:
        chunk: ChatCompletionChunk | None = first
        while chunk is not None:
            if include_usage or chunk.usage is None:
                yield chunk
            elif chunk.choices:
                yield msgspec.structs.replace(chunk, usage=None)
            chunk = await anext(rest, None)
    finally:
        closer = getattr(rest, "aclose", None)
        if closer is not None:
            await closer()
