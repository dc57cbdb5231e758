"""The Responses API story: a `POST /v1/responses` answered by the chat story.

    translate (input items, instructions, tools, previous response) -> chat request
          -> chat story (cache, router, cascade, ledger, budgets: all of it, unchanged)
          -> translate the completion (or the chunk stream) -> Response (or events)
          -> store it, so a later request can continue with `previous_response_id`

Stored responses live in memory (`ResponseStore`: the newest 1,000, for 24 hours), on this
box only: a restart forgets them, and a request naming one that is gone is a 400 saying so.
They hold the conversation so far (input turns and output, not the instructions: OpenAI
applies only the current request's `instructions`).
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from appliance.errors import InvalidRequest
from appliance.pipeline.context import Reply, RequestContext
from appliance.pipeline.response_events import complete, events, response_usage
from appliance.schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessage,
    StreamOptions,
)
from appliance.schemas.responses import (
    FunctionCall,
    OutputItem,
    OutputMessage,
    OutputText,
    Response,
    ResponseEvent,
    ResponsesRequest,
)

if TYPE_CHECKING:
    from appliance.pipeline import Pipeline

ResponsesReply = Reply[Response, ResponseEvent]
# Responses-only fields that mean nothing to a chat upstream.
_NOT_FOR_CHAT = frozenset(
    {"input", "instructions", "max_output_tokens", "previous_response_id", "store", "text"}
    | {"reasoning", "include", "truncation", "background", "conversation", "prompt"}
    | {"tools", "tool_choice", "top_logprobs", "stream", "_raw"}
)


@dataclass
class Stored:
    response: Response
    conversation: list[ChatMessage]
    at: float


class ResponseStore:
    """The newest responses, bounded in count and age."""

    def __init__(self, max_entries: int = 1000, ttl_s: float = 86_400.0) -> None:
        self._items: OrderedDict[str, Stored] = OrderedDict()
        self._max = max_entries
        self._ttl = ttl_s

    def put(self, response: Response, conversation: list[ChatMessage]) -> None:
        self._items[response.id] = Stored(response, conversation, time.monotonic())
        self._items.move_to_end(response.id)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    def get(self, response_id: str) -> Stored | None:
        stored = self._items.get(response_id)
        if stored is None or time.monotonic() - stored.at > self._ttl:
            self._items.pop(response_id, None)
            return None
        return stored


async def responses(
    pipeline: Pipeline, req: ResponsesRequest, ctx: RequestContext
) -> ResponsesReply:
    history = _history(pipeline.stored, req.previous_response_id)
    turn = input_messages(req.input)
    chat = chat_request(req, history + turn)
    skeleton = Response(
        ctx.request_id,
        ctx.started_wall,
        req.model,
        [],
        status="in_progress",
        tools=req.tools or [],
        tool_choice=req.tool_choice or "auto",
        parallel_tool_calls=req.parallel_tool_calls is not False,
        instructions=req.instructions,
        previous_response_id=req.previous_response_id,
        temperature=req.temperature,
        top_p=req.top_p,
        max_output_tokens=req.max_output_tokens,
        metadata=req.metadata or {},
        text=req.text or {"format": {"type": "text"}},
    )

    def keep(response: Response) -> None:
        if req.store is not False:
            pipeline.stored.put(response, history + turn + output_messages(response.output))

    reply = await pipeline.chat(chat, ctx)
    if reply.chunks is not None:
        stream = events(skeleton, reply.chunks, keep)
        return ResponsesReply(reply.headers, chunks=stream, after=reply.after)
    assert reply.body is not None
    response = finished(skeleton, reply.body)
    keep(response)
    return ResponsesReply(reply.headers, body=response, after=reply.after)


def _history(store: ResponseStore, previous: str | None) -> list[ChatMessage]:
    if previous is None:
        return []
    stored = store.get(previous)
    if stored is None:
        raise InvalidRequest(
            f"Previous response with id '{previous}' not found (responses are kept in this "
            "appliance's memory, the newest 1000 for 24 hours)",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return list(stored.conversation)


def chat_request(req: ResponsesRequest, messages: list[ChatMessage]) -> ChatCompletionRequest:
    if req.instructions:
        messages = [ChatMessage("system", req.instructions), *messages]
    if not messages:
        raise InvalidRequest("`input` is empty", param="input")
    chat = ChatCompletionRequest(
        messages,
        model=req.model,
        stream=req.stream,
        # The usage chunk becomes the completed event's usage.
        stream_options=StreamOptions(include_usage=True) if req.stream else None,
        temperature=req.temperature,
        top_p=req.top_p,
        max_tokens=req.max_output_tokens,
        logprobs=True if req.top_logprobs else None,
        top_logprobs=req.top_logprobs,
        response_format=_response_format(req.text),
        tools=[_chat_tool(i, t) for i, t in enumerate(req.tools)] if req.tools else None,
        tool_choice=_chat_tool_choice(req.tool_choice),
        parallel_tool_calls=req.parallel_tool_calls,
        user=req.user,
    )
    passed = {k: v for k, v in (req.raw or {}).items() if k not in _NOT_FOR_CHAT}
    effort = (req.raw or {}).get("reasoning")
    if isinstance(effort, dict) and isinstance(effort.get("effort"), str):
        passed["reasoning_effort"] = effort["effort"]
    chat.raw = {**msgspec.to_builtins(chat), **passed}
    chat.raw.pop("_raw", None)
    return chat


def input_messages(items: str | list[dict[str, Any]]) -> list[ChatMessage]:
    """Responses input items as chat turns (consecutive function calls: one assistant turn)."""
    if isinstance(items, str):
        return [ChatMessage("user", items)]
    out: list[ChatMessage] = []
    for index, item in enumerate(items):
        kind = item.get("type", "message")
        if kind == "message":
            out.append(_message(index, item))
        elif kind == "function_call":
            call = {
                "id": item.get("call_id") or item.get("id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments", "")},
            }
            if out and out[-1].role == "assistant" and out[-1].tool_calls is not None:
                out[-1].tool_calls.append(call)
            else:
                out.append(ChatMessage("assistant", None, tool_calls=[call]))
        elif kind == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else msgspec.json.encode(output).decode()
            out.append(ChatMessage("tool", text, tool_call_id=item.get("call_id")))
        elif kind != "reasoning":
            raise InvalidRequest(f"input[{index}]: items of type {kind!r} are not supported")
    return out


def _message(index: int, item: dict[str, Any]) -> ChatMessage:
    role = item.get("role")
    if role not in ("user", "system", "developer", "assistant"):
        raise InvalidRequest(f"input[{index}].role: {role!r} is not a message role", param="input")
    content = item.get("content")
    if isinstance(content, str) or content is None:
        return ChatMessage(role, content or "")
    if not isinstance(content, list) or not all(isinstance(p, dict) for p in content):
        raise InvalidRequest(f"input[{index}].content: a string or a list of parts", param="input")
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "input_image":
            url = part.get("image_url") or part.get("file_id") or ""
            parts.append({"type": "image_url", "image_url": {"url": url}})
        else:
            parts.append({"type": str(kind)})  # kept, so a tier that cannot read it says so
    return ChatMessage(role, parts)


def _chat_tool(index: int, tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function":
        raise InvalidRequest(
            f"tools[{index}]: only function tools are supported (got {tool.get('type')!r})",
            param="tools",
        )
    function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if k in tool}
    return {"type": "function", "function": function}


def _chat_tool_choice(choice: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return choice


def _response_format(text: dict[str, Any] | None) -> dict[str, Any] | None:
    fmt = (text or {}).get("format")
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt.get("type") == "json_schema":
        spec = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": spec}
    return {"type": str(fmt.get("type"))}


def finished(skeleton: Response, completion: ChatCompletion) -> Response:
    """The Response for a whole chat completion (its first choice)."""
    choice = completion.choices[0]
    output: list[OutputItem] = []
    message = choice.message
    if message.content:
        scored = (choice.logprobs or {}).get("content") or []
        text = OutputText(message.content, logprobs=scored)
        output.append(OutputMessage(f"msg_{uuid.uuid4().hex}", [text]))
    for call in message.tool_calls or []:
        function = call.get("function") or {}
        output.append(
            FunctionCall(
                f"fc_{uuid.uuid4().hex}",
                str(call.get("id")),
                str(function.get("name")),
                str(function.get("arguments", "")),
            )
        )
    return complete(skeleton, output, choice.finish_reason, response_usage(completion.usage))


def output_messages(output: list[OutputItem]) -> list[ChatMessage]:
    """A response's output as chat turns, for the next request in the conversation."""
    text = "".join(
        p.text for item in output if isinstance(item, OutputMessage) for p in item.content
    )
    calls = [
        {
            "id": i.call_id,
            "type": "function",
            "function": {"name": i.name, "arguments": i.arguments},
        }
        for i in output
        if isinstance(i, FunctionCall)
    ]
    if not text and not calls:
        return []
    return [ChatMessage("assistant", text or None, tool_calls=calls or None)]
