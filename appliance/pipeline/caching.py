"""The chat story's side of the semantic cache: key the request, serve a hit, store an answer.

It decides, per request, whether the cache is read (`lookup`) and written (`store`): never
with `Cache-Control: no-store`, not read with `no-cache`, never when the cache is off or the
request samples hot. A hit is re-stamped with this request's id and time. A store runs after
the response is sent and never breaks serving. The cache itself (index, verifier, guards)
lives in `appliance/cache`; this module only calls it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import msgspec
import numpy as np

from appliance.cache.policy import is_cacheable_request, is_cacheable_response
from appliance.cache.scope import CacheKey, build_key
from appliance.cache.semantic import Lookup, SemanticCache
from appliance.config import CacheConfig
from appliance.pipeline.context import RequestContext
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
    cache: SemanticCache,
    config: CacheConfig,
    needs_key: bool,
) -> Prepared:
    """Key the request when the cache may be used or the router needs its text."""
    # Fields the appliance does not read may still change the answer upstream (conservative).
    params = {**req.extra_fields, **{name: getattr(req, name) for name in ANSWER_PARAMS}}
    use_cache = not ctx.no_store and is_cacheable_request(params, config)
    key = None
    if use_cache or needs_key:
        messages = [msgspec.to_builtins(m) for m in req.messages]
        key = build_key(ctx.client.namespace, req.model, messages, params)
    prepared = Prepared(req, key, lookup=use_cache and not ctx.no_cache, store=use_cache)
    if use_cache:
        prepared.entry_id = cache.new_entry_id()
    return prepared


def lookup(
    cache: SemanticCache, prepared: Prepared, exact_only: bool
) -> tuple[Lookup, ChatCompletion] | None:
    """Exact tier first (no embedding needed), then the semantic tier on the vector."""
    if not prepared.lookup or prepared.key is None:
        return None
    if exact_only:
        found = cache.lookup_exact(prepared.key)
    elif prepared.vector is None:
        return None
    else:
        found = cache.lookup_semantic(prepared.key, prepared.vector)
    if found is None:
        return None
    prepared.similarity = found.similarity
    if found.outcome != "hit" or found.response is None:
        return None
    prepared.store = False
    return found, msgspec.json.decode(found.response, type=ChatCompletion)


def restamp(completion: ChatCompletion, ctx: RequestContext) -> ChatCompletion:
    """A cached answer goes out under this request's id and time."""
    return msgspec.structs.replace(completion, id=ctx.request_id, created=int(ctx.started_wall))


def storable_body(
    prepared: Prepared, completion: ChatCompletion | None, config: CacheConfig
) -> bytes | None:
    """The bytes to store for this answer, or None when it must not be cached."""
    if completion is None or not prepared.store:
        return None
    body = msgspec.json.encode(completion)
    return body if is_cacheable_response(msgspec.json.decode(body), config) else None


async def store(cache: SemanticCache, prepared: Prepared, body: bytes, request_id: str) -> None:
    """After the response: write the entry. A cache write must never break serving."""
    if prepared.key is None or prepared.vector is None or prepared.entry_id is None:
        return
    try:
        await asyncio.to_thread(cache.store, prepared.entry_id, prepared.key, prepared.vector, body)
    except Exception:
        log.exception("cache write failed for %s", request_id)
