from __future__ import annotations

from appliance.cache.policy import (
    is_cacheable_request,
    is_cacheable_response,
    request_refusal,
    response_refusal,
)
from appliance.cache.scope import build_key
from appliance.config import CacheConfig


def chat(*turns: str, system: str = "You are helpful.") -> list[dict[str, object]]:
    messages: list[dict[str, object]] = [{"role": "system", "content": system}]
    for i, turn in enumerate(turns):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": turn})
    return messages


def test_whitespace_differences_share_the_exact_key() -> None:
    a = build_key("ns", "m", chat("What is  the capital of France?\n"), {})
    b = build_key("ns", "m", chat(" What is the capital of France?"), {})
    assert a.exact == b.exact and a.scope == b.scope
    assert a.text == "What is the capital of France?"


def test_case_difference_is_not_an_exact_match() -> None:
    a = build_key("ns", "m", chat("Is US healthcare good?"), {})
    b = build_key("ns", "m", chat("Is us healthcare good?"), {})
    assert a.exact != b.exact


def test_namespace_model_system_prompt_and_params_change_the_scope() -> None:
    base = build_key("ns", "m", chat("hi"), {"temperature": 0})
    assert build_key("other", "m", chat("hi"), {"temperature": 0}).scope != base.scope
    assert build_key("ns", "m2", chat("hi"), {"temperature": 0}).scope != base.scope
    assert (
        build_key("ns", "m", chat("hi", system="Be terse."), {"temperature": 0}).scope != base.scope
    )
    assert build_key("ns", "m", chat("hi"), {"temperature": 0.5}).scope != base.scope
    assert build_key("ns", "m", chat("hi"), {"temperature": 0, "max_tokens": 5}).scope != base.scope
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert build_key("ns", "m", chat("hi"), {"temperature": 0, "tools": tools}).scope != base.scope
    fmt = {"type": "json_object"}
    assert (
        build_key("ns", "m", chat("hi"), {"temperature": 0, "response_format": fmt}).scope
        != base.scope
    )


def test_stream_flag_and_null_params_do_not_change_the_scope() -> None:
    base = build_key("ns", "m", chat("hi"), {"temperature": 0})
    same = build_key("ns", "m", chat("hi"), {"temperature": 0, "stream": True, "seed": None})
    assert same.scope == base.scope and same.exact == base.exact


def test_follow_up_scope_depends_on_the_earlier_turns() -> None:
    paris = build_key(
        "ns", "m", chat("Tell me about Paris.", "Paris is...", "What about its population?"), {}
    )
    rome = build_key(
        "ns", "m", chat("Tell me about Rome.", "Rome is...", "What about its population?"), {}
    )
    assert paris.text == rome.text == "What about its population?"
    assert paris.scope != rome.scope and paris.exact != rome.exact


def test_assistant_answer_in_history_changes_the_scope() -> None:
    a = build_key("ns", "m", chat("Pick a number.", "7", "Double it."), {})
    b = build_key("ns", "m", chat("Pick a number.", "9", "Double it."), {})
    assert a.scope != b.scope


def test_content_parts_read_like_plain_text() -> None:
    parts = [{"role": "user", "content": [{"type": "text", "text": "Hello there"}]}]
    plain = [{"role": "user", "content": "Hello there"}]
    assert build_key("ns", "m", parts, {}) == build_key("ns", "m", plain, {})


def test_an_image_in_the_last_turn_changes_the_scope() -> None:
    def with_image(url: str) -> list[dict[str, object]]:
        return [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ]

    a = build_key("ns", "m", with_image("http://x/a.png"), {})
    b = build_key("ns", "m", with_image("http://x/b.png"), {})
    assert a.text == b.text and a.scope != b.scope


def test_none_content_is_empty_text() -> None:
    key = build_key("ns", "m", [{"role": "user", "content": None}], {})
    assert key.text == ""


def test_hot_sampling_and_several_choices_are_not_cacheable() -> None:
    config = CacheConfig(max_temperature=0.7)
    assert is_cacheable_request({"temperature": 0.2}, config)
    assert is_cacheable_request({}, config)
    assert request_refusal({"temperature": 0.9}, config) == "temperature"
    assert request_refusal({"n": 2}, config) == "n"
    assert request_refusal({}, CacheConfig(enabled=False)) == "cache_disabled"


def _response(finish: str | None, **message: object) -> dict[str, object]:
    return {
        "choices": [
            {"index": 0, "finish_reason": finish, "message": {"role": "assistant", **message}}
        ]
    }


def test_complete_answers_are_cacheable() -> None:
    config = CacheConfig()
    assert is_cacheable_response(_response("stop", content="Paris."), config)
    assert is_cacheable_response(_response("length", content="Paris is the"), config)


def test_errors_incomplete_and_filtered_answers_are_not_cacheable() -> None:
    config = CacheConfig()
    assert response_refusal({"error": {"message": "boom"}}, config) == "error"
    assert response_refusal({"choices": []}, config) == "no_choices"
    assert response_refusal(_response(None, content="Par"), config) == "incomplete"
    assert response_refusal(_response("content_filter", content=""), config) == "incomplete"
    assert response_refusal(_response("stop", content=""), config) == "empty"


def test_tool_calls_are_cached_only_when_configured() -> None:
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    response = _response("tool_calls", content=None, tool_calls=calls)
    assert response_refusal(response, CacheConfig()) == "tool_calls"
    assert is_cacheable_response(response, CacheConfig(cache_tool_calls=True))


def test_null_fields_on_earlier_turns_do_not_change_the_scope() -> None:
    # Clients echo the assistant message back as the API returned it, nulls included.
    plain = chat("Tell me about Lisbon.", "Lisbon is Portugal's capital.", "Its population?")
    echoed = [dict(m) for m in plain]
    echoed[2].update({"refusal": None, "tool_calls": None, "name": None})
    assert build_key("ns", "m", echoed, {}).scope == build_key("ns", "m", plain, {}).scope


def test_a_question_asked_again_names_the_scope_of_its_first_ask() -> None:
    first = build_key("ns", "m", chat("Tell me about Lisbon.", "A city.", "Its population?"), {})
    again = build_key(
        "ns",
        "m",
        chat(
            "Tell me about Lisbon.",
            "A city.",
            "Its population?",
            "About 550,000.",
            "Its population?",
        ),
        {},
    )
    assert again.scope != first.scope
    assert (again.parent, again.parent_text) == (first.scope, "Its population?")
