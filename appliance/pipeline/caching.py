"""The chat story's side of the semantic cache: key the request, serve a hit, store an answer.

It decides, per request, whether the cache is read (`lookup`) and written (`store`): never
with `Cache-Control: no-store`, not read with `no-cache`, never when the cache is off or the
request samples hot. A hit is re-stamped with this request's id and time. A store runs after
the response is sent and never breaks serving. The cache itself (index, verifier, guards)
lives in `appliance/cache`; this module only calls it.

Many tenants share a namespace, so what one of them does must not change another's answers:
- the key holds everything that changes the answer, the client's own `max_tokens` cap
  included; an answer cut short by a cap the client did not ask for is not stored;
- a pinned model's scope only ever holds that model's answers (an escalated answer is not
  stored under it);
- `no-cache` from a client that may not refresh the shared namespace stores the fresh answer
  in that client's own view (`client:<id>`), which its lookups read first.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import msgspec
import numpy as np

from appliance.cache.matching import Lookup
from appliance.cache.policy import is_cacheable_request, is_cacheable_response
from appliance.cache.scope import CacheKey, build_key
from appliance.cache.semantic import SemanticCache
from appliance.config import CacheConfig
from appliance.pipeline.context import RequestContext
from appliance.router.planner import AUTO
from appliance.schemas import ChatCompletion, ChatCompletionRequest

log = logging.getLogger("appliance.pipeline")

# Request fields that change the answer, so they are part of the cache scope.
ANSWER_PARAMS = (
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


@dataclass
class Prepared:
    """A checked request and what the cache and router know about it before any call."""

    req: ChatCompletionRequest
    key: CacheKey | None
    lookup: bool
    store: bool
    # The client's own view in a shared namespace (read first; written by its refreshes).
    own_key: CacheKey | None = None
    entry_id: str | None = None
    vector: np.ndarray | None = None
    score: float | None = None
    similarity: float | None = None

    @property
    def cache_state(self) -> str:
        """What `x-appliance-cache` says on a miss: a lookup happened, or none did."""
        return "miss" if self.lookup else "bypass"

    @property
    def text(self) -> str:
        """The text the cache and the router look at (the last user turn)."""
        return self.key.text if self.key is not None else ""


def prepare(
    req: ChatCompletionRequest,
    ctx: RequestContext,
    config: CacheConfig,
    needs_key: bool,
) -> Prepared:
    """Key the request when the cache may be used or the router needs its text."""
    # Fields the appliance does not read may still change the answer upstream (conservative).
    params: dict[str, object] = {
        **req.extra_fields,
        **{name: getattr(req, name) for name in ANSWER_PARAMS},
    }
    use_cache = not ctx.no_store and is_cacheable_request(params, config)
    if ctx.client.max_tokens is not None:
        params["client_max_tokens"] = ctx.client.max_tokens  # a capped client's answers differ
    key = own = None
    if use_cache or needs_key:
        messages = [msgspec.to_builtins(m) for m in req.messages]
        key = build_key(ctx.client.namespace, req.model, messages, params)
        if use_cache and ctx.client.namespace != _own_namespace(ctx):
            own = build_key(_own_namespace(ctx), req.model, messages, params)
    return Prepared(req, key, lookup=use_cache and not ctx.no_cache, store=use_cache, own_key=own)


def claim_entry(prepared: Prepared, cache: SemanticCache) -> None:
    """A miss whose answer will be stored gets the entry id it is stored under (a hit never
    needs one, and drawing it is a syscall on the hot path)."""
    if prepared.store:
        prepared.entry_id = cache.new_entry_id()


def _own_namespace(ctx: RequestContext) -> str:
    return f"client:{ctx.client.id}"


def _write_key(prepared: Prepared, ctx: RequestContext) -> CacheKey | None:
    """Where this answer is stored: the shared namespace, or the client's own view when it
    refreshed (no-cache) without the right to replace what others see."""
    if ctx.no_cache and not ctx.client.refresh_shared and prepared.own_key is not None:
        return prepared.own_key
    return prepared.key


def lookup(
    cache: SemanticCache, prepared: Prepared, exact_only: bool
) -> tuple[Lookup, ChatCompletion] | None:
    """Exact tier first (no embedding needed), then the semantic tier on the vector."""
    if not prepared.lookup or prepared.key is None:
        return None
    if not exact_only and prepared.vector is None:
        return None
    for key in (prepared.own_key, prepared.key):
        if key is None:
            continue
        if exact_only:
            found = cache.lookup_exact(key)
        else:
            assert prepared.vector is not None
            found = cache.lookup_semantic(key, prepared.vector)
        if found is None:
            continue
        if key is prepared.key or found.outcome == "hit":
            prepared.similarity = found.similarity
        if found.outcome == "hit" and found.response is not None:
            prepared.store = False
            return found, msgspec.json.decode(found.response, type=ChatCompletion)
    return None


def restamp(completion: ChatCompletion, ctx: RequestContext) -> ChatCompletion:
    """A cached answer goes out under this request's id and time."""
    return msgspec.structs.replace(completion, id=ctx.request_id, created=int(ctx.started_wall))


def storable_body(
    prepared: Prepared,
    completion: ChatCompletion | None,
    config: CacheConfig,
    *,
    answered_by: tuple[str, str],
    limit: int | None,
) -> bytes | None:
    """The bytes to store for this answer, or None when it must not be cached.
    `answered_by` is the answering tier's (name, model); `limit` the output cap it ran with."""
    if completion is None or not prepared.store:
        return None
    model = prepared.req.model
    if model != AUTO and model not in answered_by:
        return None  # escalated away from the pinned model: not that model's answer
    asked = prepared.req.token_limit
    cut_short = any(c.finish_reason == "length" for c in completion.choices)
    if cut_short and (asked is None or (limit is not None and limit < asked)):
        return None  # cut by a cap or default the client did not choose
    body = msgspec.json.encode(completion)
    return body if is_cacheable_response(msgspec.json.decode(body), config) else None


async def store(
    cache: SemanticCache, prepared: Prepared, body: bytes | None, ctx: RequestContext
) -> None:
    """After the response: write the entry, and when the client asked with `no-cache`, tell
    the cache the entry it would have served was not wanted (its bar rises). A cache write
    must never break serving."""
    if prepared.key is None or prepared.vector is None:
        return
    try:
        if ctx.no_cache and prepared.store and ctx.client.refresh_shared:
            await asyncio.to_thread(cache.reasked, prepared.key, prepared.vector)
        key = _write_key(prepared, ctx)
        if body is not None and prepared.entry_id is not None and key is not None:
            await asyncio.to_thread(cache.store, prepared.entry_id, key, prepared.vector, body)
    except Exception:
        log.exception("cache write failed for %s", ctx.request_id)
