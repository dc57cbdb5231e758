"""The Responses API (`POST /v1/responses`): request, response object, stream events.

Shapes follow the `openai` SDK's `openai.types.responses` models (the stock client parses
them): output items are tagged by `type`, stream events carry `type` and `sequence_number`.
The appliance answers a Responses request through its chat pipeline
(`pipeline/responses.py` translates both ways), so only what chat can express is read here:
text or message input, `instructions`, function tools, sampling, `previous_response_id`.
"""

from __future__ import annotations

from typing import Any

import msgspec


class ResponsesRequest(msgspec.Struct, omit_defaults=True):
    input: str | list[dict[str, Any]] = ""
    model: str = "auto"
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    previous_response_id: str | None = None
    store: bool | None = None
    metadata: dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    top_logprobs: int | None = None
    user: str | None = None
    # The client's body as decoded JSON; see `ChatCompletionRequest.raw`.
    raw: dict[str, Any] | None = msgspec.field(default=None, name="_raw")


class OutputText(msgspec.Struct):
    text: str
    type: str = "output_text"
    annotations: list[dict[str, Any]] = msgspec.field(default_factory=list)
    logprobs: list[dict[str, Any]] = msgspec.field(default_factory=list)


class OutputMessage(msgspec.Struct, tag_field="type", tag="message"):
    id: str
    content: list[OutputText]
    role: str = "assistant"
    status: str = "completed"


class FunctionCall(msgspec.Struct, tag_field="type", tag="function_call"):
    id: str
    call_id: str
    name: str
    arguments: str
    status: str = "completed"


OutputItem = OutputMessage | FunctionCall


class ResponseUsage(msgspec.Struct):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: dict[str, int] = msgspec.field(
        default_factory=lambda: {"cached_tokens": 0, "cache_write_tokens": 0}
    )
    output_tokens_details: dict[str, int] = msgspec.field(
        default_factory=lambda: {"reasoning_tokens": 0}
    )


class Response(msgspec.Struct):
    id: str
    created_at: float
    model: str
    output: list[OutputItem]
    status: str = "completed"
    object: str = "response"
    tools: list[dict[str, Any]] = msgspec.field(default_factory=list)
    tool_choice: str | dict[str, Any] = "auto"
    parallel_tool_calls: bool = True
    instructions: str | None = None
    previous_response_id: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    text: dict[str, Any] = msgspec.field(default_factory=lambda: {"format": {"type": "text"}})
    usage: ResponseUsage | None = None
    incomplete_details: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    @property
    def output_text(self) -> str:
        return "".join(
            part.text
            for item in self.output
            if isinstance(item, OutputMessage)
            for part in item.content
        )


# -- stream events (each is one SSE `event:`/`data:` pair) -------------------------------------


class LifecycleEvent(msgspec.Struct):
    """response.created / response.in_progress / response.completed / response.incomplete."""

    type: str
    sequence_number: int
    response: Response


class ItemEvent(msgspec.Struct):
    """response.output_item.added / response.output_item.done."""

    type: str
    sequence_number: int
    output_index: int
    item: OutputItem


class PartEvent(msgspec.Struct):
    """response.content_part.added / response.content_part.done."""

    type: str
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    part: OutputText


class TextDeltaEvent(msgspec.Struct):
    type: str
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    delta: str
    logprobs: list[dict[str, Any]] = msgspec.field(default_factory=list)


class TextDoneEvent(msgspec.Struct):
    type: str
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    text: str
    logprobs: list[dict[str, Any]] = msgspec.field(default_factory=list)


class ArgumentsDeltaEvent(msgspec.Struct):
    type: str
    sequence_number: int
    item_id: str
    output_index: int
    delta: str


class ArgumentsDoneEvent(msgspec.Struct):
    type: str
    sequence_number: int
    item_id: str
    output_index: int
    arguments: str
    name: str


class ErrorEvent(msgspec.Struct):
    """A failure after the stream started (the HTTP status is already sent)."""

    type: str
    sequence_number: int
    message: str
    code: str | None = None
    param: str | None = None


ResponseEvent = (
    LifecycleEvent
    | ItemEvent
    | PartEvent
    | TextDeltaEvent
    | TextDoneEvent
    | ArgumentsDeltaEvent
    | ArgumentsDoneEvent
    | ErrorEvent
)
