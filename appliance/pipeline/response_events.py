"""A chat chunk stream retold as Responses API stream events.

The order is the one OpenAI sends and the `openai` SDK's `responses.stream()` accumulates:

    response.created, response.in_progress
    per text answer:  output_item.added, content_part.added, output_text.delta...,
                      output_text.done, content_part.done, output_item.done
    per tool call:    output_item.added, function_call_arguments.delta...,
                      function_call_arguments.done, output_item.done
    response.completed (or response.incomplete when it ran out of tokens)

A failure after the first event ends the stream with one `error` event (the HTTP status has
already been sent). The finished response is handed to `keep` (the store) before the last
event goes out.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from appliance.errors import ApplianceError
from appliance.schemas import ChatCompletionChunk, Usage
from appliance.schemas.responses import (
    ArgumentsDeltaEvent,
    ArgumentsDoneEvent,
    ErrorEvent,
    FunctionCall,
    ItemEvent,
    LifecycleEvent,
    OutputItem,
    OutputMessage,
    OutputText,
    PartEvent,
    Response,
    ResponseEvent,
    ResponseUsage,
    TextDeltaEvent,
    TextDoneEvent,
)


@dataclass
class _Retelling:
    """The events so far: sequence numbers, the output items, the open text item."""

    output: list[OutputItem] = field(default_factory=list)
    sequence: int = 0
    text: OutputMessage | None = None
    calls: dict[int, FunctionCall] = field(default_factory=dict)
    scored: list[dict[str, Any]] = field(default_factory=list)

    def next(self) -> int:
        self.sequence += 1
        return self.sequence - 1

    def open_text(self) -> list[ResponseEvent]:
        self.text = OutputMessage(f"msg_{uuid.uuid4().hex}", [], status="in_progress")
        index = len(self.output)
        self.output.append(self.text)
        return [
            ItemEvent("response.output_item.added", self.next(), index, _copy(self.text)),
            PartEvent(
                "response.content_part.added",
                self.next(),
                self.text.id,
                index,
                0,
                OutputText(""),
            ),
        ]

    def add_text(self, delta: str, logprobs: list[dict[str, Any]]) -> list[ResponseEvent]:
        opened = self.open_text() if self.text is None else []
        assert self.text is not None
        if not self.text.content:
            self.text.content.append(OutputText(""))
        self.text.content[0].text += delta
        self.scored.extend(logprobs)
        index = self.output.index(self.text)
        event = TextDeltaEvent(
            "response.output_text.delta", self.next(), self.text.id, index, 0, delta, logprobs
        )
        return [*opened, event]

    def add_call(self, delta: dict[str, Any]) -> list[ResponseEvent]:
        position = int(delta.get("index", 0))
        function = delta.get("function") or {}
        emitted: list[ResponseEvent] = []
        call = self.calls.get(position)
        if call is None:
            call = FunctionCall(
                f"fc_{uuid.uuid4().hex}",
                str(delta.get("id") or f"call_{uuid.uuid4().hex[:24]}"),
                str(function.get("name") or ""),
                "",
                status="in_progress",
            )
            self.calls[position] = call
            self.output.append(call)
            index = len(self.output) - 1
            emitted.append(ItemEvent("response.output_item.added", self.next(), index, _copy(call)))
        piece = function.get("arguments") or ""
        if piece:
            call.arguments += piece
            index = self.output.index(call)
            emitted.append(
                ArgumentsDeltaEvent(
                    "response.function_call_arguments.delta", self.next(), call.id, index, piece
                )
            )
        return emitted

    def close(self) -> list[ResponseEvent]:
        closing: list[ResponseEvent] = []
        for index, item in enumerate(self.output):
            item.status = "completed"
            if isinstance(item, OutputMessage):
                part = item.content[0] if item.content else OutputText("")
                part.logprobs = self.scored
                closing += [
                    TextDoneEvent(
                        "response.output_text.done",
                        self.next(),
                        item.id,
                        index,
                        0,
                        part.text,
                        self.scored,
                    ),
                    PartEvent("response.content_part.done", self.next(), item.id, index, 0, part),
                ]
            else:
                closing.append(
                    ArgumentsDoneEvent(
                        "response.function_call_arguments.done",
                        self.next(),
                        item.id,
                        index,
                        item.arguments,
                        item.name,
                    )
                )
            closing.append(ItemEvent("response.output_item.done", self.next(), index, item))
        return closing


def _copy(item: OutputItem) -> OutputItem:
    return msgspec.structs.replace(item)


async def events(
    skeleton: Response,
    chunks: AsyncIterator[ChatCompletionChunk],
    keep: Callable[[Response], None],
) -> AsyncIterator[ResponseEvent]:
    told = _Retelling()
    yield LifecycleEvent("response.created", told.next(), skeleton)
    yield LifecycleEvent("response.in_progress", told.next(), skeleton)
    finish: str | None = None
    usage = None
    try:
        async for chunk in chunks:
            usage = chunk.usage or usage
            for choice in chunk.choices[:1] if chunk.choices else []:
                delta = choice.delta
                if delta.content:
                    scored = (choice.logprobs or {}).get("content") or []
                    for event in told.add_text(delta.content, scored):
                        yield event
                for call in delta.tool_calls or []:
                    for event in told.add_call(call):
                        yield event
                finish = choice.finish_reason or finish
    except ApplianceError as exc:
        yield ErrorEvent("error", told.next(), exc.message, exc.code, exc.param)
        return
    for event in told.close():
        yield event
    response = complete(skeleton, told.output, finish, response_usage(usage))
    keep(response)
    kind = "response.incomplete" if response.status == "incomplete" else "response.completed"
    yield LifecycleEvent(kind, told.next(), response)


def response_usage(usage: Usage | None) -> ResponseUsage | None:
    if usage is None:
        return None
    out = ResponseUsage(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)
    out.input_tokens_details["cached_tokens"] = usage.cached_tokens
    return out


def complete(
    skeleton: Response, output: list[OutputItem], finish: str | None, usage: ResponseUsage | None
) -> Response:
    """The final Response: `incomplete` when the answer ran out of tokens."""
    truncated = finish == "length"
    return msgspec.structs.replace(
        skeleton,
        output=output,
        status="incomplete" if truncated else "completed",
        incomplete_details={"reason": "max_output_tokens"} if truncated else None,
        usage=usage,
    )
