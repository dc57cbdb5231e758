"""The Responses API through the stock `openai` SDK (sync and async, create and stream)
against a live daemon on the local tier."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.serving import Server

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.mark.compat("openai SDK", "Responses: create, previous_response_id", "local")
def test_create_and_continue_a_response(no_store_client: openai.OpenAI) -> None:
    raw = no_store_client.responses.with_raw_response.create(
        model="auto", input="Say hello.", instructions="Be brief.", max_output_tokens=16
    )
    first = raw.parse()
    assert raw.headers["x-request-id"] == first.id and first.id.startswith("resp_")
    assert first.object == "response" and first.status in ("completed", "incomplete")
    assert first.output_text
    assert first.usage is not None and first.usage.output_tokens > 0
    second = no_store_client.responses.create(
        model="auto", input="Again, please.", previous_response_id=first.id, max_output_tokens=8
    )
    assert second.previous_response_id == first.id and second.output_text
    assert no_store_client.responses.retrieve(first.id).output_text == first.output_text
    with pytest.raises(openai.BadRequestError):
        no_store_client.responses.create(model="auto", input="x", previous_response_id="resp_gone")


@pytest.mark.compat("openai SDK", "Responses: stream events", "local")
def test_stream_events_in_order(no_store_client: openai.OpenAI) -> None:
    with no_store_client.responses.stream(
        model="auto", input="Name a colour.", max_output_tokens=12
    ) as s:
        events = list(s)
    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    # As OpenAI: a response cut by max_output_tokens ends `response.incomplete`.
    last = events[-1]
    assert last.type in ("response.completed", "response.incomplete")
    final = last.response  # type: ignore[union-attr]
    expected = [
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ]
    positions = [kinds.index(k) for k in expected]
    assert positions == sorted(positions)
    assert final.output_text and final.usage is not None


@pytest.mark.compat("openai SDK", "Responses: function tool loop (stream)", "local")
def test_function_tool_round_trip(no_store_client: openai.OpenAI) -> None:
    with no_store_client.responses.stream(
        model="auto", input="What is the weather in Paris?", tools=[WEATHER]
    ) as s:
        kinds = [event.type for event in s]
        first = s.get_final_response()
    assert "response.function_call_arguments.delta" in kinds
    assert "response.function_call_arguments.done" in kinds
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "get_weather" and isinstance(json.loads(call.arguments), dict)
    answer = no_store_client.responses.create(
        model="auto",
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        max_output_tokens=30,
    )
    assert answer.output_text
    assert not [item for item in answer.output if item.type == "function_call"]


@pytest.mark.compat("openai SDK (async)", "Responses: create", "local")
async def test_async_client_creates_a_response(local_server: Server) -> None:
    client = openai.AsyncOpenAI(base_url=local_server.base_url, api_key="x", max_retries=0)
    response = await client.responses.create(
        model="auto",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}],
        max_output_tokens=8,
    )
    assert response.output_text
    await client.close()


def test_unknown_response_is_404(local_server: Server) -> None:
    found = httpx.get(f"{local_server.base_url}/responses/resp_nothing", timeout=10)
    assert found.status_code == 404
    assert found.json()["error"]["code"] == "not_found"
