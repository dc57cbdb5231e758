"""The request path, top to bottom, as DESIGN.md draws it:

    check -> key the cache -> embed once -> cache lookup (hit: replay, record, done)
          -> classify -> plan tiers -> call with escalation -> enforce output
          -> ledger (durable before the reply completes) -> cache write + event (after)

Each stage is one short method and no HTTP types appear here: `api/openai.py` decodes the
request, calls `Pipeline.chat`, encodes the `ChatReply` and runs `reply.after` once the
response is sent. Streams live in `pipeline_stream.py`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

import msgspec
import numpy as np

from appliance.api.schemas import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Usage
from appliance.backends.registry import Tier, TierSet
from appliance.cache.policy import is_cacheable_request, is_cacheable_response
from appliance.cache.scope import CacheKey, build_key
from appliance.cache.semantic import SemanticCache
from appliance.config import Config
from appliance.embedding.batcher import EmbeddingBatcher
from appliance.errors import (
    BackendError,
    BackendRateLimited,
    BackendUnavailable,
    BudgetExceeded,
    InvalidOutput,
    InvalidRequest,
)
from appliance.ledger.billing import Attempt, Billing, Outcome, estimate_usage
from appliance.ledger.db import Ledger, LedgerWriteError
from appliance.output import cap_tokens, check_schema, validate_completion, with_terse_hint
from appliance.router.classifier import RouterClassifier
from appliance.router.planner import AUTO, Plan, build_plan, start_tier
from appliance.router.policy import RoutingPolicy
from appliance.router.spill import should_spill
from appliance.security import BudgetTracker, Client
from appliance.streaming import replay_async
from appliance.telemetry.bus import EventBus

log = logging.getLogger("appliance.pipeline")
MAX_N = 8
_ANSWER_PARAMS = (
    "temperature",
    "top_p",
    "n",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "response_format",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
)
ANONYMOUS = Client(id="anonymous", name="anonymous", namespace="shared")


@dataclass
class RequestContext:
    started: float = field(default_factory=time.perf_counter)
    started_wall: float = field(default_factory=time.time)
    request_id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    client: Client = ANONYMOUS
    # From the Cache-Control request header.
    no_store: bool = False
    no_cache: bool = False


@dataclass
class Prepared:
    """A checked request and what the cache and router know about it before any call."""

    req: ChatCompletionRequest
    key: CacheKey | None
    lookup: bool
    store: bool
    entry_id: str | None = None
    vector: np.ndarray | None = None
    score: float | None = None
    similarity: float | None = None


@dataclass
class ChatReply:
    headers: dict[str, str]
    completion: ChatCompletion | None = None
    chunks: AsyncIterator[ChatCompletionChunk] | None = None
    # Runs after the response is sent: cache write and event, never on the response path.
    after: Callable[[], Awaitable[None]] | None = None


@dataclass
class Pipeline:
    config: Config
    tiers: TierSet
    billing: Billing
    bus: EventBus
    embedder: EmbeddingBatcher | None = None
    cache: SemanticCache | None = None
    classifier: RouterClassifier | None = None
    policy: RoutingPolicy | None = None
    ledger: Ledger | None = None
    budgets: BudgetTracker | None = None
    count_tokens: Callable[[str], int] = len

    async def chat(self, req: ChatCompletionRequest, ctx: RequestContext) -> ChatReply:
        check_request(req)
        prepared = self.prepare(req, ctx)
        if (reply := await self.lookup(prepared, ctx, exact_only=True)) is not None:
            return reply
        await self.embed(prepared)
        if (reply := await self.lookup(prepared, ctx)) is not None:
            return reply
        self.classify(prepared)
        plan = await self.plan(prepared, ctx)
        if req.stream:
            from appliance.pipeline_stream import stream

            return await stream(self, prepared, plan, ctx)
        return await self.complete(prepared, plan, ctx)

    # -- before any backend ---------------------------------------------------------------

    def prepare(self, req: ChatCompletionRequest, ctx: RequestContext) -> Prepared:
        cache = self.config.cache
        params = {name: getattr(req, name) for name in _ANSWER_PARAMS}
        use_cache = (
            self.cache is not None
            and cache.enabled
            and not ctx.no_store
            and is_cacheable_request(params, cache)
        )
        key = None
        if use_cache or self._routes(req):
            messages = [msgspec.to_builtins(m) for m in req.messages]
            key = build_key(ctx.client.namespace, req.model, messages, params)
        prepared = Prepared(req, key, lookup=use_cache and not ctx.no_cache, store=use_cache)
        if use_cache and self.cache is not None:
            prepared.entry_id = self.cache.new_entry_id()
        return prepared

    def _routes(self, req: ChatCompletionRequest) -> bool:
        pinned_kept = req.model != AUTO and self.config.router.pinned_models == "allow"
        return self.classifier is not None and len(self.tiers.tiers) > 1 and not pinned_kept

    async def embed(self, prepared: Prepared) -> None:
        """One embedding serves both the cache and the router."""
        if prepared.key is not None and self.embedder is not None and prepared.key.text:
            prepared.vector = await self.embedder.embed(prepared.key.text)

    async def lookup(
        self, prepared: Prepared, ctx: RequestContext, exact_only: bool = False
    ) -> ChatReply | None:
        """Exact tier first (no embedding needed), then the semantic tier on its vector."""
        if not prepared.lookup or prepared.key is None or self.cache is None:
            return None
        if exact_only:
            found = self.cache.lookup_exact(prepared.key)
            if found is None:
                return None
        elif prepared.vector is None:
            return None
        else:
            found = self.cache.lookup_semantic(prepared.key, prepared.vector)
        prepared.similarity = found.similarity
        if found.outcome != "hit" or found.response is None:
            return None
        prepared.store = False
        completion = msgspec.json.decode(found.response, type=ChatCompletion)
        completion = msgspec.structs.replace(
            completion, id=ctx.request_id, created=int(ctx.started_wall)
        )
        attempt = Attempt("cache", completion.model, ctx.started, 0.0, usage=completion.usage)
        outcome = self.outcome(prepared, ctx, "hit", "cache-hit", [attempt])
        await self.record(outcome)
        headers = {
            **base_headers(ctx, "cache", "cache-hit"),
            "x-appliance-cache": "hit",
            "x-appliance-cache-entry": found.entry_id or "",
            "x-appliance-cache-similarity": f"{found.similarity or 1.0:.4f}",
        }
        if prepared.req.stream:
            return ChatReply(headers, chunks=replay_async(completion, prepared.req.include_usage))
        return ChatReply(headers, completion=completion)

    def classify(self, prepared: Prepared) -> None:
        if not self._routes(prepared.req) or prepared.vector is None or self.classifier is None:
            return
        text = prepared.key.text if prepared.key else ""
        score = self.classifier.score(prepared.vector[None, :], [text])
        prepared.score = float(score[0])

    async def plan(self, prepared: Prepared, ctx: RequestContext) -> Plan:
        routed = None
        if prepared.score is not None and self.policy is not None:
            routed = self.policy.route(prepared.score)
        rewrite = self.config.router.pinned_models == "rewrite"
        start, reason = start_tier(self.tiers, prepared.req.model, routed, rewrite)
        free_only = False
        if self.budgets is not None and self.budgets.is_exhausted(ctx.client):
            if self.config.security.on_budget_exceeded == "reject":
                raise BudgetExceeded(
                    f"Client '{ctx.client.name}' has reached its monthly budget of "
                    f"${ctx.client.budget_usd_month:.2f}"
                )
            free_only = True
        spill = None
        if start.backend is not None and start.config.backend == "vllm":
            health = await start.backend.health()
            spill = should_spill(
                health,
                self.config.router.spill_queue_depth,
                self.config.router.spill_kv_cache_usage,
            )
        return build_plan(self.tiers, start, reason, free_only=free_only, spill_reason=spill)

    def for_tier(
        self, req: ChatCompletionRequest, tier: Tier, client: Client = ANONYMOUS
    ) -> ChatCompletionRequest:
        req = with_terse_hint(req, self.config.router.terse_hint)
        return cap_tokens(cap_tokens(req, client.max_tokens), tier.config.max_tokens_cap)

    # -- backends -------------------------------------------------------------------------

    async def complete(self, prepared: Prepared, plan: Plan, ctx: RequestContext) -> ChatReply:
        req = prepared.req
        attempts: list[Attempt] = []
        reason = plan.reason
        invalid_outputs = 0
        for tier in plan.order:
            if not tier.circuit.allow():
                continue
            assert tier.backend is not None
            attempt = start_attempt(tier, attempts)
            try:
                completion = await tier.backend.chat(self.for_tier(req, tier, ctx.client))
            except BackendError as exc:
                reason = fail_attempt(tier, attempt, exc)
                continue
            except InvalidRequest:
                tier.circuit.record_success()
                raise
            attempt.backend_s = time.perf_counter() - attempt.began
            attempt.usage = completion.usage
            tier.circuit.record_success()
            try:
                validate_completion(req, completion, tier.name)
            except InvalidOutput:
                attempt.status = "error:invalid_output"
                invalid_outputs += 1
                reason = "escalated:invalid_output"
                if invalid_outputs >= 2:  # escalated once already: stop paying for more
                    await self.record(
                        self.outcome(prepared, ctx, self.cache_state(prepared), reason, attempts)
                    )
                    raise no_tier_answered(attempts) from None
                continue
            if attempt.usage is None:
                attempt.usage = self.estimate(req, completion)
                attempt.estimated = True
            outcome = self.outcome(prepared, ctx, self.cache_state(prepared), reason, attempts)
            await self.record(outcome)
            headers = self.miss_headers(prepared, ctx, tier, reason, attempts)
            body = msgspec.json.encode(completion)
            store = prepared.store and is_cacheable_response(
                msgspec.json.decode(body), self.config.cache
            )
            return ChatReply(
                headers,
                completion=completion,
                after=partial(self.finish, outcome, prepared if store else None, body),
            )
        await self.record(self.outcome(prepared, ctx, self.cache_state(prepared), reason, attempts))
        raise no_tier_answered(attempts)

    def estimate(self, req: ChatCompletionRequest, completion: ChatCompletion) -> Usage:
        text = "".join(c.message.content or "" for c in completion.choices)
        return estimate_usage(req, text, self.count_tokens)

    # -- after the answer -----------------------------------------------------------------

    def cache_state(self, prepared: Prepared) -> str:
        return "miss" if prepared.lookup else "bypass"

    def outcome(
        self,
        prepared: Prepared,
        ctx: RequestContext,
        cache: str,
        reason: str,
        attempts: list[Attempt],
    ) -> Outcome:
        prompt = None
        if self.config.security.log_prompts_in_events and prepared.req.messages:
            prompt = prepared.req.messages[-1].text()[:500]
        return Outcome(
            request_id=ctx.request_id,
            client_id=ctx.client.id,
            client_name=ctx.client.name,
            model_requested=prepared.req.model,
            cache=cache,
            route_reason=reason,
            score=prepared.score,
            stream=prepared.req.stream,
            started_wall=ctx.started_wall,
            latency_ms=(time.perf_counter() - ctx.started) * 1000.0,
            attempts=attempts,
            prompt_text=prompt,
        )

    async def record(self, outcome: Outcome) -> None:
        """Ledger rows are committed before the reply completes; a ledger failure is loud but
        the client still gets its answer (the row loss is reported in /admin/stats)."""
        rows = self.billing.rows(outcome)
        if self.ledger is not None:
            try:
                await self.ledger.record(rows)
            except LedgerWriteError as exc:
                log.error("ledger write failed for %s: %s", outcome.request_id, exc)
        if self.budgets is not None:
            spent = sum(r.cost_usd for r in rows)
            if spent:
                self.budgets.add(outcome.client_id, spent)
        self.bus.publish(self.billing.event(outcome, rows))

    async def finish(self, outcome: Outcome, prepared: Prepared | None, body: bytes | None) -> None:
        """After the response: store the answer in the cache (if it may be)."""
        if prepared is None or body is None or self.cache is None:
            return
        if prepared.key is None or prepared.vector is None or prepared.entry_id is None:
            return
        try:
            await asyncio.to_thread(
                self.cache.store, prepared.entry_id, prepared.key, prepared.vector, body
            )
        except Exception:  # a cache write must never break serving
            log.exception("cache write failed for %s", outcome.request_id)

    def miss_headers(
        self,
        prepared: Prepared,
        ctx: RequestContext,
        tier: Tier,
        reason: str,
        attempts: list[Attempt],
    ) -> dict[str, str]:
        headers = base_headers(ctx, tier.name, reason, attempts)
        headers["x-appliance-cache"] = self.cache_state(prepared)
        if prepared.store and prepared.entry_id:
            headers["x-appliance-cache-entry"] = prepared.entry_id
        if prepared.similarity is not None:
            headers["x-appliance-cache-similarity"] = f"{prepared.similarity:.4f}"
        if prepared.score is not None:
            headers["x-appliance-route-score"] = f"{prepared.score:.4f}"
        return headers


def check_request(req: ChatCompletionRequest) -> None:
    """What msgspec's types cannot say."""
    if not req.messages:
        raise InvalidRequest("`messages` must contain at least one message", param="messages")
    check_sampling(req.n, req.token_limit, req.temperature, req.top_p)
    check_schema(req)


def check_sampling(
    n: int | None, limit: int | None, temperature: float | None, top_p: float | None
) -> None:
    """Ranges shared by chat and legacy text completions."""
    if n is not None and not 1 <= n <= MAX_N:
        raise InvalidRequest(f"`n` must be between 1 and {MAX_N}", param="n")
    if limit is not None and not 1 <= limit <= 1_000_000:
        raise InvalidRequest("`max_tokens` must be between 1 and 1000000", param="max_tokens")
    if temperature is not None and not 0.0 <= temperature <= 2.0:
        raise InvalidRequest("`temperature` must be between 0 and 2", param="temperature")
    if top_p is not None and not 0.0 <= top_p <= 1.0:
        raise InvalidRequest("`top_p` must be between 0 and 1", param="top_p")


def start_attempt(tier: Tier, attempts: list[Attempt]) -> Attempt:
    attempt = Attempt(tier.name, tier.model, time.perf_counter(), 0.0)
    attempts.append(attempt)
    return attempt


def fail_attempt(tier: Tier, attempt: Attempt, exc: BackendError | StopAsyncIteration) -> str:
    """Mark a failed attempt (an empty stream counts as one) and feed the tier's circuit;
    returns the route reason for the escalation that follows."""
    kind = exc.kind if isinstance(exc, BackendError) else "empty_stream"
    attempt.backend_s = time.perf_counter() - attempt.began
    attempt.status = f"error:{kind}"
    if isinstance(exc, BackendError):
        record_failure(tier, exc)
    else:
        tier.circuit.record_failure()
    return f"escalated:{kind}"


def record_failure(tier: Tier, exc: BackendError) -> None:
    if isinstance(exc, BackendRateLimited):
        tier.circuit.record_failure(exc.retry_after_s, rate_limited=True)
    else:
        tier.circuit.record_failure()


def base_headers(
    ctx: RequestContext, tier: str, reason: str, attempts: list[Attempt] | None = None
) -> dict[str, str]:
    backend_s = sum(a.backend_s for a in attempts or [])
    overhead_ms = (time.perf_counter() - ctx.started - backend_s) * 1000.0
    return {
        "x-appliance-tier": tier,
        "x-appliance-route-reason": reason,
        "x-appliance-overhead-ms": f"{max(overhead_ms, 0.0):.3f}",
        "x-request-id": ctx.request_id,
    }


def no_tier_answered(attempts: list[Attempt]) -> BackendUnavailable | InvalidOutput:
    tried = ", ".join(f"{a.tier} ({a.status})" for a in attempts) or "none"
    if any(a.status == "error:invalid_output" for a in attempts):
        return InvalidOutput(
            f"No tier produced an answer matching the requested format; tried: {tried}"
        )
    return BackendUnavailable(f"No tier could answer this request; tried: {tried}")
