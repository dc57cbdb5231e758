"""Function calling for the local tier, without a model: the choice, the prompt, the
grammar (compiled by llama.cpp's own parser) and the reading of the answer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from appliance.backends import tools
from appliance.errors import InvalidRequest

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
ADD = {"type": "function", "function": {"name": "add", "description": "Add two numbers"}}
USER = [{"role": "user", "content": "weather?"}]
ANSWERED = [*USER, {"role": "tool", "tool_call_id": "c1", "content": "sunny"}]


@pytest.mark.parametrize(
    ("choice", "messages", "policy", "produce", "names"),
    [
        ("none", USER, "call-then-answer", "text", []),
        ("required", USER, "call-then-answer", "call", ["get_weather", "add"]),
        ("auto", USER, "call-then-answer", "call", ["get_weather", "add"]),
        ("auto", ANSWERED, "call-then-answer", "text", []),
        ("auto", USER, "model", "either", ["get_weather", "add"]),
        ({"type": "function", "function": {"name": "add"}}, USER, "model", "call", ["add"]),
    ],
)
def test_tool_choice_decides_what_the_model_may_write(
    choice: Any, messages: list[dict[str, Any]], policy: Any, produce: str, names: list[str]
) -> None:
    plan = tools.plan_tools([WEATHER, ADD], choice, None, messages, policy)
    assert plan.produce == produce and plan.names == names


def test_parallel_calls_are_bounded_and_can_be_switched_off() -> None:
    assert tools.plan_tools([WEATHER, ADD], "required", None, USER).max_calls == 2
    assert tools.plan_tools([WEATHER, ADD], "required", False, USER).max_calls == 1
    many = [{"type": "function", "function": {"name": f"f{i}"}} for i in range(9)]
    assert tools.plan_tools(many, "required", True, USER).max_calls == tools.MAX_PARALLEL


@pytest.mark.parametrize(
    ("offered", "choice", "param"),
    [
        ([WEATHER], {"type": "function", "function": {"name": "nope"}}, "tool_choice"),
        (None, "required", "tool_choice"),
        ([{"type": "web_search"}], "auto", "tools"),
        ([WEATHER], "sometimes", "tool_choice"),
    ],
)
def test_a_malformed_tool_request_is_the_clients_error(
    offered: Any, choice: Any, param: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        tools.plan_tools(offered, choice, None, USER)
    assert caught.value.param == param


def test_the_conversation_is_rewritten_for_any_template() -> None:
    messages = [
        {"role": "developer", "content": "Be terse."},
        {"role": "user", "content": [{"type": "text", "text": "weather and sum?"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}},
                {"id": "c2", "function": {"name": "add", "arguments": '{"a":1,"b":2}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "rain"},
        {"role": "tool", "tool_call_id": "c2", "content": "3"},
    ]
    out = tools.render_messages(messages, "TOOLS")
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert out[0]["content"] == "Be terse.\n\nTOOLS"
    assert out[1]["content"] == "weather and sum?"
    assert out[2]["content"] == (
        'Calling get_weather({"city": "Oslo"})\nCalling add({"a": 1, "b": 2})'
    )
    assert out[3]["content"] == "Function results:\nget_weather: rain\nadd: 3"
    assert all(isinstance(m["content"], str) for m in out)


def test_the_tools_prompt_goes_first_when_there_is_no_system_message() -> None:
    out = tools.render_messages(USER, "TOOLS")
    assert out[0] == {"role": "system", "content": "TOOLS"}


@pytest.mark.parametrize(
    "plan",
    [
        tools.ToolPlan("call", [WEATHER, ADD], 2),
        tools.ToolPlan("either", [WEATHER], 1),
        tools.ToolPlan("text", answering=True),
    ],
    ids=["call", "either", "prose"],
)
def test_grammars_compile_in_llama_cpp(plan: tools.ToolPlan) -> None:
    from llama_cpp.llama_grammar import LlamaGrammar

    gbnf = tools.call_grammar(plan)
    assert gbnf is not None
    assert LlamaGrammar.from_string(gbnf, verbose=False) is not None


def test_free_text_needs_no_grammar() -> None:
    assert tools.call_grammar(tools.ToolPlan("text")) is None


def test_call_schema_pins_names_and_arguments() -> None:
    schema = tools.call_schema(tools.ToolPlan("call", [WEATHER], 1))
    assert schema["maxItems"] == 1
    assert schema["items"]["properties"]["name"] == {"const": "get_weather"}
    assert schema["items"]["properties"]["arguments"]["properties"] == {"city": {"type": "string"}}


ANSWER = (
    '[{"name": "get_weather", "arguments": {"city": "Rio \\"de\\" {J}"}}, '
    '{"name": "add", "arguments": {"a": 1, "b": [2, 3]}}]'
)


def test_the_scanner_reads_a_whole_answer() -> None:
    scanner = tools.CallScanner()
    scanner.feed(ANSWER)
    calls = scanner.tool_calls()
    assert [c["function"]["name"] for c in calls] == ["get_weather", "add"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": 'Rio "de" {J}'}
    assert json.loads(calls[1]["function"]["arguments"]) == {"a": 1, "b": [2, 3]}
    assert all(c["id"].startswith("call_") and c["type"] == "function" for c in calls)


def test_streamed_deltas_add_up_to_the_whole_answer() -> None:
    scanner = tools.CallScanner()
    deltas = [d for i in range(0, len(ANSWER), 3) for d in scanner.feed(ANSWER[i : i + 3])]
    firsts = [d for d in deltas if "id" in d]
    assert [d["index"] for d in firsts] == [0, 1]
    assert all(d["function"]["arguments"] == "" and d["type"] == "function" for d in firsts)
    for index, call in enumerate(scanner.tool_calls()):
        pieces = [d["function"]["arguments"] for d in deltas if d["index"] == index]
        assert "".join(pieces) == call["function"]["arguments"]
        assert call["id"] == firsts[index]["id"]


def test_a_call_cut_off_is_not_returned() -> None:
    scanner = tools.CallScanner()
    scanner.feed(ANSWER[:-20])
    assert [c["function"]["name"] for c in scanner.tool_calls()] == ["get_weather"]
