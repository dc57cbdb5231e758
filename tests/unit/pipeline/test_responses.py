"""The Responses story over the real pipeline with fake backends: translation both ways,
stream events, the store behind `previous_response_id`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from appliance.errors import InvalidRequest
from appliance.pipeline import RequestContext
from appliance.pipeline.responses import ResponseStore, chat_request, input_messages
from appliance.schemas import ChatMessage
from appliance.schemas.responses import Response, ResponsesRequest
from tests.unit.pipeline.fakes import Rig, Script, make_rig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = make_rig(tmp_path, n_tiers=1)
    yield made
    made.close()


def responses_request(**fields: Any) -> ResponsesRequest:
    req = msgspec.convert(fields, ResponsesRequest)
    req.raw = fields
    return req


async def test_a_response_and_its_continuation(rig: Rig) -> None:
    backend = rig.backends[0].then(Script(text="first answer"), Script(text="second answer"))
    received: list[Any] = []
    script = backend._next
    backend._next = lambda req: received.append(req) or script(req)  # type: ignore[method-assign]
    ctx = RequestContext(request_id="resp_1")
    first = await rig.pipeline.responses(
        responses_request(input="hello", instructions="Be brief."), ctx
    )
    assert first.body is not None and first.body.id == "resp_1"
    assert first.body.output_text == "first answer" and first.body.status == "completed"
    assert first.body.usage is not None and first.body.usage.output_tokens == 2
    second = await rig.pipeline.responses(
        responses_request(input="again", previous_response_id="resp_1"),
        RequestContext(request_id="resp_2"),
    )
    assert second.body is not None and second.body.output_text == "second answer"
    sent = received[-1]
    assert [(m.role, m.text()) for m in sent.messages] == [
        ("user", "hello"),
        ("assistant", "first answer"),
        ("user", "again"),
    ]  # the earlier instructions are not carried over, as OpenAI does


async def test_stream_events_follow_openais_order(rig: Rig) -> None:
    rig.backends[0].then(Script(text="one two"))
    reply = await rig.pipeline.responses(
        responses_request(input="hi", stream=True), RequestContext(request_id="resp_s")
    )
    assert reply.chunks is not None
    events = [e async for e in reply.chunks]
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))  # type: ignore[union-attr]
    final: Response = events[-1].response  # type: ignore[union-attr]
    assert final.output_text == "one two " or final.output_text.strip() == "one two"
    assert rig.pipeline.stored.get("resp_s") is not None


async def test_an_unknown_previous_response_is_a_400(rig: Rig) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await rig.pipeline.responses(
            responses_request(input="x", previous_response_id="resp_gone"), RequestContext()
        )
    assert caught.value.param == "previous_response_id"


def test_input_items_become_chat_turns() -> None:
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
        {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "w", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        {"type": "reasoning", "summary": []},
    ]
    turns = input_messages(items)
    assert [t.role for t in turns] == ["user", "assistant", "tool"]
    assert turns[0].text() == "weather?"
    assert [c["id"] for c in turns[1].tool_calls or []] == ["c1", "c2"]
    assert turns[2].tool_call_id == "c1" and turns[2].content == "sunny"


def test_the_chat_request_carries_tools_format_and_vendor_fields() -> None:
    req = responses_request(
        input="x",
        instructions="sys",
        tools=[{"type": "function", "name": "w", "parameters": {"type": "object"}}],
        tool_choice={"type": "function", "name": "w"},
        text={"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}}},
        max_output_tokens=33,
        reasoning={"effort": "low"},
        service_tier="flex",
        include=["reasoning.encrypted_content"],
    )
    chat = chat_request(req, input_messages("x"))
    assert chat.messages[0] == ChatMessage("system", "sys")
    assert chat.tools == [
        {"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}
    ]
    assert chat.tool_choice == {"type": "function", "function": {"name": "w"}}
    assert chat.response_format == {
        "type": "json_schema",
        "json_schema": {"name": "s", "schema": {"type": "object"}},
    }
    assert chat.max_tokens == 33
    assert chat.raw is not None
    assert chat.raw["reasoning_effort"] == "low" and chat.raw["service_tier"] == "flex"
    assert "include" not in chat.raw and "input" not in chat.raw


def test_built_in_tools_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        chat_request(responses_request(input="x", tools=[{"type": "web_search"}]), [])


def test_the_store_is_bounded() -> None:
    store = ResponseStore(max_entries=2)
    for n in range(3):
        store.put(Response(f"r{n}", 0.0, "m", []), [])
    assert store.get("r0") is None and store.get("r2") is not None
