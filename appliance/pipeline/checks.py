"""What a request must satisfy before anything is spent on it (msgspec checks the types;
these check what types cannot say). Every failure is a 400 naming the parameter."""

from __future__ import annotations

from appliance.errors import InvalidRequest
from appliance.pipeline.output import check_schema
from appliance.schemas import ChatCompletionRequest, CompletionRequest

MAX_N = 8


def check_chat_request(req: ChatCompletionRequest, max_depth: int = 64) -> None:
    if not req.messages:
        raise InvalidRequest("`messages` must contain at least one message", param="messages")
    check_sampling(req.n, req.token_limit, req.temperature, req.top_p)
    # Free-form objects go to jsonschema, grammars and upstreams, which recurse on them.
    for param in ("tools", "response_format", "tool_choice"):
        if _depth(getattr(req, param), max_depth) > max_depth:
            raise InvalidRequest(
                f"`{param}` is nested deeper than {max_depth} levels (limits.max_json_depth)",
                param=param,
            )
    check_schema(req)


def _depth(value: object, limit: int) -> int:
    """Nesting depth of a decoded JSON value, counted only up to `limit` + 1."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return depth
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def check_text_request(req: CompletionRequest) -> None:
    prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
    if not prompts or not all(prompts):
        raise InvalidRequest("`prompt` must be a non-empty string", param="prompt")
    check_sampling(req.n, req.max_tokens, req.temperature, req.top_p)


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
