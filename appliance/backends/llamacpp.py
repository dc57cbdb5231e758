"""In-process llama.cpp (llama-cpp-python): the CPU tier-1 model.

llama.cpp is blocking and single-context, so calls run in a worker thread and are serialised
per model with one lock; a stream holds the lock until its last token. The chat template comes
from the GGUF's metadata (llama-cpp-python picks it up).

Usage: llama-cpp-python reports no usage on streams. The prompt count is read exactly from the
first sampling call (a logits processor sees the whole prompt); the completion count is the
output text re-tokenised, in BOTH modes, so a streamed and a non-streamed answer of the same
text are billed the same tokens (see README "Token accounting").
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import msgspec

from appliance.backends.base import BackendHealth
from appliance.config import TierConfig, default_local_model
from appliance.errors import BackendError, InvalidRequest
from appliance.schemas import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Completion,
    CompletionRequest,
    Usage,
)

_DONE = object()
# Sampling parameters passed through to llama.cpp when the client set them.
_SAMPLING = ("temperature", "top_p", "seed", "stop", "presence_penalty", "frequency_penalty")
_LOOSE_CHAR = 'char ::= [^"\\\\] |'
_STRICT_CHAR = 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |'


class _PromptCounter:
    """A logits processor that only records the prompt length at the first sampling step."""

    def __init__(self) -> None:
        self.prompt_tokens: int | None = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.prompt_tokens is None:
            self.prompt_tokens = len(input_ids)
        return scores


class LlamaCppBackend:
    def __init__(self, tier: TierConfig) -> None:
        self.name = tier.name
        self.model = tier.model or tier.name
        self._tier = tier
        self._path = tier.model_path or str(default_local_model())
        self._llm: Any = None
        self._lock = asyncio.Lock()
        self._state: BackendHealth = BackendHealth(state="loading")

    async def start(self) -> None:
        self._llm = await asyncio.to_thread(self._load)
        self._state = BackendHealth(state="up")

    def _load(self) -> Any:
        import os

        from llama_cpp import Llama

        threads = self._tier.n_threads or (os.cpu_count() or 2)
        return Llama(
            model_path=self._path,
            n_ctx=self._tier.n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )

    # -- request translation -------------------------------------------------------------

    def _kwargs(self, req: ChatCompletionRequest, counter: _PromptCounter) -> dict[str, Any]:
        from llama_cpp import LogitsProcessorList

        messages = [msgspec.to_builtins(m) for m in req.messages]
        for message in messages:
            if isinstance(message.get("content"), list):
                message["content"] = "\n".join(
                    str(p.get("text", "")) for p in message["content"] if p.get("type") == "text"
                )
        kwargs: dict[str, Any] = {
            "messages": messages,
            "max_tokens": req.token_limit,
            "logits_processor": LogitsProcessorList([counter]),
            **_given(req, (*_SAMPLING, "tools", "tool_choice")),
        }
        grammar = self._grammar(req.response_format)
        if grammar is not None:
            kwargs["grammar"] = grammar
        return kwargs

    def _grammar(self, response_format: dict[str, Any] | None) -> Any:
        """Enforce structured output with a GBNF grammar built from the JSON schema."""
        if not response_format:
            return None
        from llama_cpp.llama_grammar import LlamaGrammar

        kind = response_format.get("type")
        schema: Any = None
        if kind == "json_schema":
            spec = response_format.get("json_schema") or {}
            schema = spec.get("schema") if isinstance(spec, dict) else None
        elif kind == "json_object":
            schema = response_format.get("schema")
        elif kind in (None, "text"):
            return None
        else:
            raise InvalidRequest(
                f"unsupported response_format type {kind!r}", param="response_format"
            )
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        try:
            gbnf = json_schema_to_gbnf(json.dumps(schema or {"type": "object"}))
            # llama-cpp-python's string rule admits raw control characters, which strict JSON
            # (and every SDK's parser) rejects inside strings: forbid them, as JSON does.
            gbnf = gbnf.replace(_LOOSE_CHAR, _STRICT_CHAR)
            return LlamaGrammar.from_string(gbnf, verbose=False)
        except Exception as exc:  # llama.cpp's converter raises bare exceptions
            raise InvalidRequest(
                f"response_format schema cannot be enforced: {exc}", param="response_format"
            ) from exc

    def _usage(self, counter: _PromptCounter, text: str) -> Usage:
        prompt = counter.prompt_tokens or 0
        completion = (
            len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))
            if text
            else 0
        )
        return Usage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )

    # -- calls -----------------------------------------------------------------------------

    async def chat(self, req: ChatCompletionRequest) -> ChatCompletion:
        """`n` choices are generated one after another (llama.cpp has one sequence); the
        prompt is billed once, as OpenAI does, and the completions are summed."""
        choices = []
        usage = Usage()
        completion: ChatCompletion | None = None
        for index in range(req.n or 1):
            counter = _PromptCounter()
            kwargs = self._kwargs(req, counter)
            if index and req.seed is not None:
                kwargs["seed"] = req.seed + index  # the same seed would repeat choice 0
            result = await self._call(self._llm.create_chat_completion, kwargs)
            completion = msgspec.convert(result, ChatCompletion, strict=False)
            choice = completion.choices[0]
            choices.append(msgspec.structs.replace(choice, index=index))
            one = await asyncio.to_thread(self._usage, counter, choice.message.content or "")
            usage.prompt_tokens = one.prompt_tokens
            usage.completion_tokens += one.completion_tokens
        assert completion is not None
        usage.total_tokens = usage.prompt_tokens + usage.completion_tokens
        return msgspec.structs.replace(completion, choices=choices, usage=usage, model=self.model)

    async def stream(self, req: ChatCompletionRequest) -> AsyncIterator[ChatCompletionChunk]:
        if (req.n or 1) > 1:
            raise InvalidRequest(
                "streaming with n > 1 is not supported by the local tier", param="n"
            )
        counter = _PromptCounter()
        kwargs = self._kwargs(req, counter)
        parts: list[str] = []
        last: ChatCompletionChunk | None = None
        async for item in self._produce(self._llm.create_chat_completion, kwargs):
            chunk = msgspec.convert(item, ChatCompletionChunk, strict=False)
            chunk.model = self.model
            parts.extend(c.delta.content for c in chunk.choices if c.delta.content)
            last = chunk
            yield chunk
        usage = await asyncio.to_thread(self._usage, counter, "".join(parts))
        yield ChatCompletionChunk(
            id=last.id if last else f"chatcmpl-{uuid.uuid4().hex}",
            created=last.created if last else int(time.time()),
            model=self.model,
            choices=[],
            usage=usage,
        )

    async def _call(self, create: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """One blocking llama.cpp call in a worker thread, under the model's lock."""
        async with self._lock:
            try:
                return await asyncio.to_thread(create, **kwargs)
            except ValueError as exc:
                raise InvalidRequest(str(exc), code="context_length_exceeded") from exc
            except Exception as exc:
                raise BackendError(
                    f"tier {self.name}: llama.cpp failed: {type(exc).__name__}"
                ) from exc

    async def _produce(
        self, create: Callable[..., Iterator[dict[str, Any]]], kwargs: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        """Run a streaming llama.cpp call in a worker thread, holding the model's lock until
        the last chunk; stops generating as soon as the consumer goes away."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def produce() -> None:
            try:
                for chunk in create(**kwargs, stream=True):
                    if stop.is_set():
                        break
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except BaseException as exc:  # delivered to the consumer, which re-raises it
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        async with self._lock:
            worker = asyncio.ensure_future(asyncio.to_thread(produce))
            try:
                while (item := await queue.get()) is not _DONE:
                    if isinstance(item, ValueError):
                        raise InvalidRequest(str(item), code="context_length_exceeded") from item
                    if isinstance(item, BaseException):
                        raise BackendError(f"tier {self.name}: llama.cpp failed") from item
                    yield item
            finally:
                stop.set()
                await worker

    # -- legacy text completions ----------------------------------------------------------

    def _text_kwargs(self, req: CompletionRequest, counter: _PromptCounter) -> dict[str, Any]:
        from llama_cpp import LogitsProcessorList

        if not isinstance(req.prompt, str):
            raise InvalidRequest("the local tier takes one prompt string", param="prompt")
        return {
            "prompt": req.prompt,
            "max_tokens": req.max_tokens,
            "logits_processor": LogitsProcessorList([counter]),
            **_given(req, (*_SAMPLING, "echo", "suffix")),
        }

    async def text(self, req: CompletionRequest) -> Completion:
        if (req.n or 1) > 1:
            raise InvalidRequest("the local tier supports n=1 for text completions", param="n")
        counter = _PromptCounter()
        kwargs = self._text_kwargs(req, counter)
        result = await self._call(self._llm.create_completion, kwargs)
        completion = msgspec.convert(result, Completion, strict=False)
        completion.usage = await asyncio.to_thread(
            self._usage, counter, "".join(c.text for c in completion.choices)
        )
        completion.model = self.model
        return completion

    async def text_stream(self, req: CompletionRequest) -> AsyncIterator[Completion]:
        if (req.n or 1) > 1:
            raise InvalidRequest("the local tier supports n=1 for text completions", param="n")
        counter = _PromptCounter()
        kwargs = self._text_kwargs(req, counter)
        parts: list[str] = []
        last: Completion | None = None
        async for item in self._produce(self._llm.create_completion, kwargs):
            chunk = msgspec.convert(item, Completion, strict=False)
            chunk.model = self.model
            parts.extend(c.text for c in chunk.choices)
            last = chunk
            yield chunk
        usage = await asyncio.to_thread(self._usage, counter, "".join(parts))
        yield Completion(
            id=last.id if last else f"cmpl-{uuid.uuid4().hex}",
            created=last.created if last else int(time.time()),
            model=self.model,
            choices=[],
            usage=usage,
        )

    async def health(self) -> BackendHealth:
        return self._state

    async def close(self) -> None:
        if self._llm is not None:
            llm, self._llm = self._llm, None
            await asyncio.to_thread(llm.close)


def _given(req: object, fields: tuple[str, ...]) -> dict[str, Any]:
    """The named request fields the client actually set (None means "backend default")."""
    return {f: v for f in fields if (v := getattr(req, f)) is not None}
