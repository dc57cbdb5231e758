"""The body an OpenAI-compatible upstream receives: the client's, with the appliance's
decisions laid over it."""

from __future__ import annotations

from typing import Any

import msgspec

from appliance.backends.passthrough import request_body, stream_options
from appliance.pipeline.output import cap_tokens, with_terse_hint
from appliance.schemas import ChatCompletionRequest, CompletionRequest

BODY: dict[str, Any] = {
    "model": "auto",
    "messages": [
        {"role": "user", "content": "hi", "vendor_note": 1},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function"}]},
    ],
    "reasoning_effort": "low",
    "top_k": 4,
    "service_tier": "flex",
    "max_completion_tokens": 900,
    "temperature": 0.3,
}


def decoded(body: dict[str, Any]) -> ChatCompletionRequest:
    req = msgspec.convert(body, ChatCompletionRequest)
    req.raw = body
    return req


def test_the_clients_fields_arrive_unchanged() -> None:
    body = request_body(decoded(BODY), "upstream")
    assert body == {**BODY, "model": "upstream"}


def test_a_cap_lands_in_the_field_the_client_used() -> None:
    body = request_body(cap_tokens(decoded(BODY), 50), "m")
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body
    legacy = request_body(cap_tokens(decoded({**BODY, "max_completion_tokens": None}), 50), "m")
    assert legacy["max_tokens"] == 50


def test_a_prepended_hint_keeps_the_clients_messages() -> None:
    body = request_body(with_terse_hint(decoded(BODY), "Be terse."), "m")
    assert body["messages"] == [{"role": "system", "content": "Be terse."}, *BODY["messages"]]


def test_drop_fields_are_removed_last() -> None:
    body = request_body(decoded(BODY), "m", ["service_tier", "top_k"])
    assert "service_tier" not in body and "top_k" not in body
    assert body["reasoning_effort"] == "low"


def test_a_request_without_a_body_is_sent_as_encoded() -> None:
    req = CompletionRequest(prompt="Once", max_tokens=5)
    assert request_body(req, "m") == {"prompt": "Once", "model": "m", "max_tokens": 5}


def test_known_extra_and_stream_options() -> None:
    assert decoded(BODY).extra_fields == {
        "reasoning_effort": "low",
        "top_k": 4,
        "service_tier": "flex",
    }
    assert stream_options({"stream_options": {"x": 1}}) == {"x": 1, "include_usage": True}
    assert stream_options(None) == {"include_usage": True}
