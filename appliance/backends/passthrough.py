"""What an OpenAI-compatible upstream receives: the client's body, with the appliance's
decisions laid over it.

The wire types read only the fields the appliance uses, so a body rebuilt from them would
drop everything else a client sends (`reasoning_effort`, `metadata`, `service_tier`, `top_k`,
vendor objects, message fields we do not model, `content: null`). So the client's decoded
body (`req.raw`) is the base, and only what the pipeline changed is overlaid: the model, a
capped token limit (written to the field the client used), a prepended system message, the
stream settings (set by the backend). A tier may name top-level fields its upstream rejects
(`drop_fields`); those are removed last. Requests the appliance builds itself (no `raw`) are
sent as their Structs encode.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from appliance.schemas import ChatCompletionRequest, CompletionRequest

Request = ChatCompletionRequest | CompletionRequest
_RAW = "_raw"


def request_body(
    req: Request, model: str, drop: list[str] | tuple[str, ...] = ()
) -> dict[str, Any]:
    built: dict[str, Any] = msgspec.to_builtins(req)
    built.pop(_RAW, None)
    raw = req.raw
    body = built if not raw else _overlay(req, raw)
    body["model"] = model
    body.pop(_RAW, None)  # a client field of that name was never ours to pass on
    for name in drop:
        body.pop(name, None)
    return body


@functools.cache
def _fields(kind: type[Any]) -> tuple[msgspec.structs.FieldInfo, ...]:
    # msgspec recomputes a struct's fields (annotations and all) on every call: ~0.5 ms.
    return msgspec.structs.fields(kind)


def _overlay(req: Request, raw: dict[str, Any]) -> dict[str, Any]:
    """`raw`, with every field the pipeline changed since decoding set to its new value."""
    original = msgspec.convert({**raw, _RAW: None}, type(req), strict=False)
    body = dict(raw)
    for field in _fields(type(req)):
        name = field.encode_name
        if name in (_RAW, "messages"):
            continue
        mine = getattr(req, field.name)
        if mine == getattr(original, field.name):
            continue
        if mine is None:
            body.pop(name, None)
        else:
            body[name] = msgspec.to_builtins(mine)
    if (
        raw.get("max_completion_tokens") is not None
        and "max_tokens" not in raw
        and "max_tokens" in body
    ):
        # A cap lands in the field the client used (newer models reject `max_tokens`).
        body["max_completion_tokens"] = body.pop("max_tokens")
    if isinstance(req, ChatCompletionRequest) and isinstance(original, ChatCompletionRequest):
        body["messages"] = _messages(req, original, raw.get("messages"))
    return body


def _messages(req: ChatCompletionRequest, original: ChatCompletionRequest, raw: Any) -> Any:
    """The client's messages as sent, after any the pipeline prepended (a system hint)."""
    mine, theirs = req.messages, original.messages
    if not isinstance(raw, list):
        return msgspec.to_builtins(mine)
    added = len(mine) - len(theirs)
    if added >= 0 and mine[added:] == theirs:
        return [*msgspec.to_builtins(mine[:added]), *raw]
    return msgspec.to_builtins(mine)


def stream_options(raw: dict[str, Any] | None) -> dict[str, Any]:
    """The client's stream options with usage always on (the ledger bills streams exactly)."""
    given = (raw or {}).get("stream_options")
    return {**(given if isinstance(given, dict) else {}), "include_usage": True}
