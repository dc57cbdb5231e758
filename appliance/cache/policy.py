"""Which requests and responses may enter the cache at all.

It owns the "never cache" rules: errors, incomplete or filtered answers, tool-call answers
(unless configured; judged on the response, since a tool-using request often answers in plain
text), sampling hotter than the configured limit, several choices. It must not key or store
anything; the pipeline asks here before it writes.

A request that does not name a temperature is cacheable: the client expressed no wish for
varied answers, and treating the backend's default (often 1.0) as "hot" would disable the
cache for most traffic.
"""

from __future__ import annotations

from collections.abc import Mapping

from appliance.config import CacheConfig

_COMPLETE = frozenset({"stop", "length"})


def request_refusal(params: Mapping[str, object], config: CacheConfig) -> str | None:
    """Why this request must not be cached, or None when it may be."""
    if not config.enabled:
        return "cache_disabled"
    temperature = params.get("temperature")
    if isinstance(temperature, int | float) and temperature > config.max_temperature:
        return "temperature"
    n = params.get("n")
    if isinstance(n, int) and n > 1:
        return "n"
    return None


def response_refusal(response: Mapping[str, object], config: CacheConfig) -> str | None:
    """Why this (complete, non-streamed or reassembled) response must not be cached."""
    if response.get("error"):
        return "error"
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices:
        return "no_choices"
    for choice in choices:
        if not isinstance(choice, dict):
            return "malformed"
        finish = choice.get("finish_reason")
        message = choice.get("message") or {}
        has_tool_calls = isinstance(message, dict) and bool(
            message.get("tool_calls") or message.get("function_call")
        )
        if has_tool_calls or finish in ("tool_calls", "function_call"):
            if not config.cache_tool_calls:
                return "tool_calls"
            continue
        if finish not in _COMPLETE:
            return "incomplete"  # None (stream cut off), "content_filter", anything unknown
        content = message.get("content") if isinstance(message, dict) else None
        text = choice.get("text")  # legacy /v1/completions
        if not content and not text:
            return "empty"
    return None


def is_cacheable_request(params: Mapping[str, object], config: CacheConfig) -> bool:
    return request_refusal(params, config) is None


def is_cacheable_response(response: Mapping[str, object], config: CacheConfig) -> bool:
    return response_refusal(response, config) is None
