"""The parts every request story uses, assembled once, all required; and the steps they share.

`Parts` is built by the runtime when the models have loaded; nothing in it is optional, so no
story checks "is there a cache / a router / a ledger" at a call site. The shared steps are
those every story takes the same way: which tiers to try (pinned model, route score, budget,
load) and the request as one tier should see it (the operator's hint, token caps).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from appliance.backends.registry import Tier, TierSet
from appliance.cache.semantic import SemanticCache
from appliance.config import Config, default_max_tokens
from appliance.errors import BackendUnavailable, BudgetExceeded, InvalidRequest
from appliance.pipeline.accounting import Accounting
from appliance.pipeline.context import RequestContext
from appliance.pipeline.output import cap_tokens, with_terse_hint
from appliance.router.planner import AUTO, Plan, build_plan, start_tier
from appliance.router.policy import RoutingPolicy
from appliance.router.spill import should_spill
from appliance.schemas import ChatCompletionRequest, Usage


class Embedder(Protocol):
    """The one encoder (micro-batched): a vector per text."""

    async def embed(self, text: str) -> np.ndarray: ...

    async def embed_many(self, texts: Sequence[str]) -> np.ndarray: ...


class Scorer(Protocol):
    """The router's classifier: a complexity score per (vector, text)."""

    def score(self, vectors: np.ndarray, texts: list[str]) -> np.ndarray: ...


@dataclass
class Parts:
    config: Config
    tiers: TierSet
    embedder: Embedder
    cache: SemanticCache
    classifier: Scorer
    policy: RoutingPolicy
    accounting: Accounting
    count_tokens: Callable[[str], int]
    # What `/v1/embeddings` answers with, where it is not `embedder` (the packaged fp32
    # model when the cache runs the int8 build).
    published: Embedder | None = None

    def routes(self, model: str) -> bool:
        """Whether this request is routed by score (auto, or a pinned model rewritten)."""
        pinned_kept = model != AUTO and self.config.router.pinned_models == "allow"
        return len(self.tiers.tiers) > 1 and not pinned_kept

    async def plan(self, model: str, routed: int | None, ctx: RequestContext) -> Plan[Tier]:
        """The tiers to try, in order: start from the pinned or routed tier, keep a capped
        client on free tiers, spill a busy local tier (vLLM's or llama.cpp's queue) one up;
        a llama.cpp queue past `limits.local_queue_max` with nowhere to spill is a 503."""
        rewrite = self.config.router.pinned_models == "rewrite"
        start, reason = start_tier(self.tiers.tiers, model, routed, rewrite)
        free_only = False
        if self.accounting.budgets.is_exhausted(ctx.client):
            if self.config.security.on_budget_exceeded == "reject":
                raise BudgetExceeded(
                    f"Client '{ctx.client.name}' has reached its monthly budget of "
                    f"${ctx.client.budget_usd_month:.2f}"
                )
            free_only = True
        spill, queued = None, None
        if start.config.backend in ("vllm", "llamacpp") and start.backend is not None:
            router = self.config.router
            health = await start.backend.health()
            spill = should_spill(health, router.spill_queue_depth, router.spill_kv_cache_usage)
            queued = health.queue_depth
        plan = build_plan(self.tiers.tiers, start, reason, free_only=free_only, spill_reason=spill)
        local = plan.order[0] is start and start.config.backend == "llamacpp"
        if local and queued is not None and queued >= self.config.limits.local_queue_max:
            # One CPU model, nowhere to spill: a fast 503 beats a minutes-long queue.
            raise BackendUnavailable(
                f"The local model is busy ({queued} requests waiting); retry shortly"
            )
        return plan

    def for_tier(
        self, req: ChatCompletionRequest, tier: Tier, ctx: RequestContext
    ) -> ChatCompletionRequest:
        """The request as `tier` receives it: the operator's hint, the tier's default output
        length when the client set none, the client's and the tier's token caps."""
        req = with_terse_hint(req, self.config.router.terse_hint)
        if req.token_limit is None:
            req = cap_tokens(req, default_max_tokens(tier.config))
        return cap_tokens(cap_tokens(req, ctx.client.max_tokens), tier.config.max_tokens_cap)

    def admit(self, tier: Tier, prompt_tokens: int, max_tokens: int, ctx: RequestContext) -> bool:
        """Hold the worst case of a paid attempt against the client's budget before making
        it (prompt x input price + max_tokens x output price). A free tier needs no hold.
        Refused: a 429 when the operator rejects over-budget clients, else skip the tier."""
        if tier.is_free:
            return True
        worst = Usage(prompt_tokens, max_tokens, prompt_tokens + max_tokens)
        usd = self.accounting.billing.cost(tier.name, worst)
        if self.accounting.budgets.hold(ctx.client, ctx.hold, usd):
            return True
        if self.config.security.on_budget_exceeded == "reject":
            raise BudgetExceeded(
                f"Client '{ctx.client.name}' has reached its monthly budget of "
                f"${ctx.client.budget_usd_month or 0:.2f}"
            )
        return False


def readers_only(plan: Plan[Tier], req: ChatCompletionRequest) -> Plan[Tier]:
    """A request with image (non-text) parts goes only to tiers that read them (config
    `vision`), or is refused naming why: never silently stripped of its images."""
    if not req.has_images:
        return plan
    order = [t for t in plan.order if t.config.reads_images]
    if not order:
        kinds = sorted({k for m in req.messages for k in m.non_text_parts()})
        raise InvalidRequest(
            f"This request has {', '.join(kinds)} content and none of the tiers it may use "
            f"({', '.join(t.name for t in plan.order)}) reads images; an operator sets "
            "`vision = true` on a tier that does",
            param="messages",
        )
    reason = plan.reason if order[0] is plan.order[0] else "vision"
    return Plan(order, reason)
