"""Chat and legacy text completions, models and errors: OpenAI's wire types as msgspec Structs.

Requests ignore unknown fields (new SDK versions add fields faster than we track them) but
check the types of the fields we read. The client's whole decoded body is kept beside them
(`ChatCompletionRequest.raw`, set by the API decoder) so an OpenAI-compatible upstream gets
every field we do not read, unchanged. Responses omit unset optional fields, as OpenAI does.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class ChatMessage(msgspec.Struct, omit_defaults=True):
    role: Role
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    refusal: str | None = None

    def text(self) -> str:
        """The message's text, whether sent as a string or as content parts."""
        if isinstance(self.content, str):
            return self.content
        if not self.content:
            return ""
        return "\n".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")

    def non_text_parts(self) -> list[str]:
        """The types of the content parts that are not text (`image_url`, `input_audio`...)."""
        if not isinstance(self.content, list):
            return []
        return [str(p.get("type")) for p in self.content if p.get("type") != "text"]


class StreamOptions(msgspec.Struct, omit_defaults=True):
    include_usage: bool = False


class ChatCompletionRequest(msgspec.Struct, omit_defaults=True):
    messages: list[ChatMessage]
    model: str = "auto"
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = None
    # The client's body as decoded JSON (None for requests the appliance builds itself). Not a
    # client field: the API decoder overwrites whatever a client sends under this name.
    raw: dict[str, Any] | None = msgspec.field(default=None, name="_raw")

    @property
    def extra_fields(self) -> dict[str, Any]:
        """The client's fields this Struct does not know (vendor fields, newer parameters)."""
        if not self.raw:
            return {}
        return {k: v for k, v in self.raw.items() if k not in CHAT_FIELDS}

    @property
    def has_images(self) -> bool:
        """Whether any message carries a non-text content part (an image, audio, a file)."""
        return any(m.non_text_parts() for m in self.messages)

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens else self.max_tokens

    @property
    def include_usage(self) -> bool:
        """Whether a streaming client asked for the final usage chunk."""
        return bool(self.stream_options and self.stream_options.include_usage)


class Usage(msgspec.Struct):
    """Always encoded whole: a zero is a count, not an absent field."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: dict[str, Any] | None = None

    @property
    def cached_tokens(self) -> int:
        details = self.prompt_tokens_details or {}
        value = details.get("cached_tokens", 0)
        return int(value) if isinstance(value, int) else 0


class ResponseMessage(msgspec.Struct):
    role: str = "assistant"
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    refusal: str | None = None


class Choice(msgspec.Struct):
    index: int
    message: ResponseMessage
    finish_reason: str | None = "stop"
    logprobs: dict[str, Any] | None = None


class ChatCompletion(msgspec.Struct):
    id: str
    created: int
    model: str
    choices: list[Choice]
    object: str = "chat.completion"
    usage: Usage | None = None
    system_fingerprint: str | None = None


class Delta(msgspec.Struct, omit_defaults=True):
    role: str | None = None
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    refusal: str | None = None


class ChunkChoice(msgspec.Struct):
    index: int
    delta: Delta
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None


class ChatCompletionChunk(msgspec.Struct):
    id: str
    created: int
    model: str
    choices: list[ChunkChoice]
    object: str = "chat.completion.chunk"
    usage: Usage | None = None
    system_fingerprint: str | None = None


class CompletionRequest(msgspec.Struct, omit_defaults=True):
    """Legacy `/v1/completions`: raw text continuation, no chat template."""

    prompt: str | list[str]
    model: str = "auto"
    max_tokens: int = 16  # OpenAI's default for this endpoint
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    echo: bool | None = None
    suffix: str | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    user: str | None = None
    raw: dict[str, Any] | None = msgspec.field(default=None, name="_raw")

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class CompletionChoice(msgspec.Struct):
    text: str
    index: int = 0
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None


class Completion(msgspec.Struct):
    """A legacy completion; streamed chunks have the same shape (`finish_reason` None)."""

    id: str
    created: int
    model: str
    choices: list[CompletionChoice]
    object: str = "text_completion"
    usage: Usage | None = None


class ModelCard(msgspec.Struct):
    id: str
    created: int
    owned_by: str
    object: str = "model"


class ModelList(msgspec.Struct):
    data: list[ModelCard]
    object: str = "list"


class ErrorDetail(msgspec.Struct):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(msgspec.Struct):
    error: ErrorDetail


# The encoded names of the request's own fields (client fields outside it are "extra").
CHAT_FIELDS = frozenset(f.encode_name for f in msgspec.structs.fields(ChatCompletionRequest))
