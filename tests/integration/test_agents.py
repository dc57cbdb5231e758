"""Agent clients against a live daemon whose only tier is the local llama.cpp model.

Real clients (the `openai` SDK, LangChain, the OpenAI Agents SDK, instructor) run real tool
loops: the model calls a tool (held to the tools' schemas by a grammar), the client runs it,
sends the result back, and the model answers in text. The local model is 135M parameters:
these tests check the protocol (shapes, ids, finish reasons, deltas), not the model's wit.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest

from tests.serving import NO_STORE, Server

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two integers",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.mark.compat("openai SDK", "tool loop (auto)", "local")
def test_openai_tool_loop_on_the_local_tier(no_store_client: openai.OpenAI) -> None:
    first = no_store_client.chat.completions.create(model="auto", messages=ASK, tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.type == "function" and call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str)
    messages: list[Any] = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "sunny", "temp_c": 21}'},
    ]
    raw = no_store_client.chat.completions.with_raw_response.create(
        model="auto", messages=messages, tools=[WEATHER], max_tokens=40
    )
    second = raw.parse()
    assert raw.headers["x-appliance-tier"] == "local"  # answered, not escalated
    assert second.choices[0].finish_reason in ("stop", "length")
    assert second.choices[0].message.content
    assert not second.choices[0].message.tool_calls


@pytest.mark.compat("openai SDK", "tool calls streamed (required)", "local")
def test_required_tool_call_streams_as_deltas(no_store_client: openai.OpenAI) -> None:
    stream = no_store_client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "Add 2 and 3."}],
        tools=[WEATHER, ADD],
        tool_choice="required",
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                if delta.id:
                    call["id"] = delta.id
                    assert delta.type == "function"
                if delta.function and delta.function.name:
                    call["name"] = delta.function.name
                if delta.function and delta.function.arguments:
                    call["arguments"] += delta.function.arguments
    assert finish == "tool_calls"
    assert calls and all(c["id"].startswith("call_") for c in calls.values())
    for call in calls.values():
        assert call["name"] in ("get_weather", "add")
        assert isinstance(json.loads(call["arguments"]), dict)


@pytest.mark.compat("openai SDK", "named tool_choice, parallel_tool_calls=false", "local")
def test_named_tool_choice_gives_one_call_of_that_tool(no_store_client: openai.OpenAI) -> None:
    completion = no_store_client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "Add 2 and 3."}],
        tools=[WEATHER, ADD],
        tool_choice={"type": "function", "function": {"name": "add"}},
        parallel_tool_calls=False,
    )
    calls = completion.choices[0].message.tool_calls or []
    assert len(calls) == 1 and calls[0].function.name == "add"  # type: ignore[union-attr]
    arguments = json.loads(calls[0].function.arguments)  # type: ignore[union-attr]
    assert isinstance(arguments["a"], int) and isinstance(arguments["b"], int)


@pytest.mark.compat("openai SDK", "tool_choice none", "local")
def test_tool_choice_none_answers_in_text(no_store_client: openai.OpenAI) -> None:
    completion = no_store_client.chat.completions.create(
        model="auto", messages=ASK, tools=[WEATHER], tool_choice="none", max_tokens=12
    )
    assert completion.choices[0].message.content
    assert not completion.choices[0].message.tool_calls


@pytest.mark.compat("openai SDK", "logprobs + top_logprobs (stream and not)", "local")
def test_logprobs_on_the_local_tier(no_store_client: openai.OpenAI) -> None:
    prompt = [{"role": "user", "content": "Name a colour."}]
    whole = no_store_client.chat.completions.create(
        model="auto", messages=prompt, max_tokens=6, temperature=0, logprobs=True, top_logprobs=3
    )
    scored = whole.choices[0].logprobs.content  # type: ignore[union-attr]
    assert scored and len(scored) == whole.usage.completion_tokens  # type: ignore[union-attr]
    assert "".join(t.token for t in scored) == whole.choices[0].message.content
    for token in scored:
        assert token.logprob <= 0 and len(token.top_logprobs) == 3
        assert token.top_logprobs[0].logprob >= token.logprob - 1e-9
        assert bytes(token.bytes or []).decode() == token.token
    chunks = list(
        no_store_client.chat.completions.create(
            model="auto",
            messages=prompt,
            max_tokens=6,
            temperature=0,
            logprobs=True,
            top_logprobs=3,
            stream=True,
        )
    )
    streamed = [
        t for c in chunks for ch in c.choices if ch.logprobs for t in ch.logprobs.content or []
    ]
    assert [t.token for t in streamed] == [t.token for t in scored]


@pytest.mark.compat("openai SDK", "context overflow is a 400, not a tier failure", "local")
def test_a_prompt_over_the_context_window_is_a_client_error(no_store_client: openai.OpenAI) -> None:
    huge = [{"role": "user", "content": "word " * 6000}]
    for _ in range(4):  # more than the circuit's failures_to_open
        with pytest.raises(openai.BadRequestError) as caught:
            no_store_client.chat.completions.create(model="auto", messages=huge, max_tokens=4)
        assert caught.value.code == "context_length_exceeded"
    ok = no_store_client.chat.completions.with_raw_response.create(
        model="auto", messages=ASK, max_tokens=3
    )
    assert ok.headers["x-appliance-tier"] == "local"  # the circuit did not open


@pytest.mark.compat("openai SDK", "x-request-id = body id", "local")
def test_request_id_is_the_body_id(no_store_client: openai.OpenAI) -> None:
    raw = no_store_client.chat.completions.with_raw_response.create(
        model="auto", messages=ASK, max_tokens=2
    )
    assert raw.headers["x-request-id"] == raw.parse().id
    with no_store_client.chat.completions.with_streaming_response.create(
        model="auto", messages=ASK, max_tokens=2, stream=True
    ) as response:
        ids = {
            json.loads(line[5:])["id"]
            for line in response.iter_lines()
            if line[5:].strip()[:1] == "{"
        }
        assert ids == {response.headers["x-request-id"]}
    text = no_store_client.completions.with_raw_response.create(
        model="auto", prompt="Once", max_tokens=2
    )
    assert text.headers["x-request-id"] == text.parse().id


def test_a_client_that_hangs_up_frees_the_model(local_server: Server) -> None:
    """A long stream abandoned after a second stops generating: the next request is prompt
    (it used to wait for the abandoned generation to reach max_tokens)."""
    body = {
        "model": "auto",
        "messages": [{"role": "user", "content": "Write a very long story about a dragon."}],
        "max_tokens": 2000,
        "temperature": 1.0,
        "stream": True,
    }
    with httpx.Client(base_url=local_server.url, timeout=60, headers=NO_STORE) as http:
        with http.stream("POST", "/v1/chat/completions", json=body) as response:
            started = time.monotonic()
            for _ in response.iter_lines():
                if time.monotonic() - started > 1.0:
                    break
        began = time.monotonic()
        short = {"model": "auto", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3}
        assert http.post("/v1/chat/completions", json=short).status_code == 200
        assert time.monotonic() - began < 15.0


@pytest.mark.compat("LangChain ChatOpenAI", "bind_tools tool loop", "local")
def test_langchain_bind_tools_loop(local_server: Server) -> None:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        return f"sunny in {city}"

    llm = ChatOpenAI(
        base_url=local_server.base_url, api_key="x", model="auto", max_retries=0, max_tokens=40
    ).bind_tools([get_weather])
    messages: list[Any] = [HumanMessage("What is the weather in Paris?")]
    reply = llm.invoke(messages)
    assert reply.tool_calls and reply.tool_calls[0]["name"] == "get_weather"
    messages.append(reply)
    for call in reply.tool_calls:
        messages.append(ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"]))
    final = llm.invoke(messages)
    assert isinstance(final.content, str) and final.content
    assert not final.tool_calls


@pytest.mark.compat("OpenAI Agents SDK", "tool loop ({api} model)", "local")
@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_agents_sdk_runs_a_tool(local_server: Server, api: str) -> None:
    from agents import (
        Agent,
        ModelSettings,
        OpenAIChatCompletionsModel,
        OpenAIResponsesModel,
        Runner,
        function_tool,
        set_tracing_disabled,
    )

    set_tracing_disabled(True)
    called: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        called.append(city)
        return f"sunny in {city}"

    client = openai.AsyncOpenAI(base_url=local_server.base_url, api_key="x", max_retries=0)
    kind = OpenAIChatCompletionsModel if api == "chat" else OpenAIResponsesModel
    agent = Agent(
        name="weather",
        instructions="Answer with the weather tool.",
        tools=[get_weather],
        model=kind(model="auto", openai_client=client),
        model_settings=ModelSettings(max_tokens=40),
    )
    result = await Runner.run(agent, "What is the weather in Paris?", max_turns=3)
    assert called  # the model called the tool, the SDK ran it
    assert isinstance(result.final_output, str) and result.final_output
    await client.close()


@pytest.mark.compat("instructor", "structured extraction (TOOLS mode)", "local")
def test_instructor_extracts_through_a_named_tool(local_server: Server) -> None:
    instructor = pytest.importorskip("instructor")
    from pydantic import BaseModel

    class City(BaseModel):
        name: str
        country: str

    with openai.OpenAI(base_url=local_server.base_url, api_key="x", max_retries=0) as sdk:
        patched = instructor.from_openai(sdk, mode=instructor.Mode.TOOLS)
        city = patched.chat.completions.create(
            model="auto",
            response_model=City,
            max_retries=0,
            messages=[{"role": "user", "content": "Paris is the capital of France."}],
        )
    assert isinstance(city, City) and city.name and city.country


async def test_a_cancelled_generation_stops_within_tokens() -> None:
    """The backend itself, non-streamed: the request's task cancelled after a second ends
    the generation and frees the model for the next request."""
    import asyncio

    from appliance.backends.llamacpp import LlamaCppBackend
    from appliance.config import TierConfig
    from appliance.schemas import ChatCompletionRequest, ChatMessage

    backend = LlamaCppBackend(TierConfig(name="local", backend="llamacpp", n_ctx=2048))
    await backend.start()
    try:
        story = ChatCompletionRequest(
            [ChatMessage("user", "Write a very long story about a dragon.")],
            max_tokens=1500,
            temperature=1.0,
        )
        task = asyncio.ensure_future(backend.chat(story))
        await asyncio.sleep(1.0)
        task.cancel()
        began = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        hi = ChatCompletionRequest([ChatMessage("user", "Hi")], max_tokens=3)
        answer = await backend.chat(hi)
        assert answer.choices[0].message.content is not None
        assert time.monotonic() - began < 10.0
    finally:
        await backend.close()
