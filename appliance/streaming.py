"""Chat streams as data: assemble chunks into one completion, replay a completion as chunks.

Used to store a streamed answer in the cache (only when it completed), to replay a cache hit
to a client that asked for `stream=true`, and to stream an answer that had to be validated
whole first (structured outputs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from appliance.schemas import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    Delta,
    ResponseMessage,
    Usage,
)

# Replayed answers go out in pieces of about this many characters, so a client's incremental
# renderer behaves as it does for a live model (one piece would look like a stall, then a dump).
PIECE_CHARS = 64


class StreamAssembler:
    """Accumulates a stream; `completion()` is None unless every choice finished."""

    def __init__(self) -> None:
        self.id = ""
        self.created = 0
        self.model = ""
        self.usage: Usage | None = None
        self._texts: dict[int, list[str]] = {}
        self._finish: dict[int, str | None] = {}
        self._tool_calls: dict[int, list[dict[str, object]]] = {}

    def add(self, chunk: ChatCompletionChunk) -> None:
        self.id, self.created, self.model = chunk.id, chunk.created, chunk.model
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            self._texts.setdefault(choice.index, [])
            if choice.delta.content:
                self._texts[choice.index].append(choice.delta.content)
            if choice.delta.tool_calls:
                self._tool_calls.setdefault(choice.index, []).extend(choice.delta.tool_calls)
            if choice.finish_reason:
                self._finish[choice.index] = choice.finish_reason

    def text(self, index: int = 0) -> str:
        return "".join(self._texts.get(index, []))

    @property
    def has_tool_calls(self) -> bool:
        return bool(self._tool_calls)

    def completion(self) -> ChatCompletion | None:
        if not self._texts or any(i not in self._finish for i in self._texts):
            return None
        choices = [
            Choice(
                index=i,
                message=ResponseMessage(content=self.text(i)),
                finish_reason=self._finish[i],
            )
            for i in sorted(self._texts)
        ]
        return ChatCompletion(self.id, self.created, self.model, choices, usage=self.usage)


def replay(completion: ChatCompletion, include_usage: bool) -> Iterable[ChatCompletionChunk]:
    """The chunks OpenAI would have sent for this completion."""

    def chunk(choices: list[ChunkChoice], usage: Usage | None = None) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            completion.id, completion.created, completion.model, choices, usage=usage
        )

    for choice in completion.choices:
        i = choice.index
        yield chunk([ChunkChoice(i, Delta(role="assistant", content=""))])
        text = choice.message.content or ""
        for start in range(0, len(text), PIECE_CHARS):
            yield chunk([ChunkChoice(i, Delta(content=text[start : start + PIECE_CHARS]))])
        if choice.message.tool_calls:
            calls = [{"index": n, **c} for n, c in enumerate(choice.message.tool_calls)]
            yield chunk([ChunkChoice(i, Delta(tool_calls=calls))])
        yield chunk([ChunkChoice(i, Delta(), finish_reason=choice.finish_reason or "stop")])
    if include_usage and completion.usage is not None:
        yield chunk([], usage=completion.usage)


async def replay_async(
    completion: ChatCompletion, include_usage: bool
) -> AsyncIterator[ChatCompletionChunk]:
    for item in replay(completion, include_usage):
        yield item
