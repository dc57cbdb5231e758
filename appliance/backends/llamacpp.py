"""In-process llama.cpp (llama-cpp-python): the CPU tier-1 model.

The chat prompt is rendered here, through the model's own chat template (from the GGUF's
metadata), from a conversation rewritten so any template takes it (`tools.render_messages`:
tool calls and tool results as text, no null content). Tools, structured output and
`tool_choice` become a GBNF grammar (`tools.py`); the answer is parsed back into
`tool_calls`. Every generation runs cooperatively (`llama_run.py`): it stops within a token
when the caller goes away, and it counts and scores its tokens as they are sampled, so usage
is llama.cpp's own count in both modes and `logprobs`/`top_logprobs` need no extra buffers.

A request the model cannot take (the template rejects it, the prompt exceeds the context
window, a schema cannot become a grammar, an image) is `InvalidRequest`: a 400, never a tier
failure. Anything else llama.cpp raises is a `BackendError`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from appliance.backends import tools
from appliance.backends.base import BackendHealth
from appliance.backends.llama_run import Job, ModelGate, Piece, TokenRecorder, decode, generate
from appliance.config import TierConfig, default_local_model
from appliance.errors import BackendError, InvalidRequest
from appliance.schemas import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Completion,
    CompletionChoice,
    CompletionRequest,
    Delta,
    ResponseMessage,
    Usage,
)

# Sampling parameters passed through to llama.cpp when the client set them.
_SAMPLING = ("temperature", "top_p", "presence_penalty", "frequency_penalty")
# Vendor parameters llama.cpp understands, read from the client's extra fields.
_VENDOR = ("top_k", "min_p", "repeat_penalty")
# llama-cpp-python's defaults (its chat handler's, its create_completion's), kept so answers
# do not change.
_CHAT_DEFAULTS = {"temperature": 0.2, "repeat_penalty": 1.1}
_TEXT_DEFAULTS = {"temperature": 0.8, "repeat_penalty": 1.0}
_CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass
class _Turn:
    """One chat request as the model will run it."""

    job: Job
    plan: tools.ToolPlan
    top_logprobs: int | None


class LlamaCppBackend:
    def __init__(self, tier: TierConfig) -> None:
        self.name = tier.name
        self.model = tier.model or tier.name
        self._tier = tier
        self._path = tier.model_path or str(default_local_model())
        self._llm: Any = None
        self._formatter: Any = None
        self._gate = ModelGate()
        self._state: BackendHealth = BackendHealth(state="loading")

    async def start(self) -> None:
        import asyncio

        self._llm = await asyncio.to_thread(self._load)
        self._formatter = self._chat_formatter()
        self._state = BackendHealth(state="up")

    def _load(self) -> Any:
        from llama_cpp import Llama

        threads = self._tier.n_threads or (os.cpu_count() or 2)
        return Llama(
            model_path=self._path,
            n_ctx=self._tier.n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )

    def _chat_formatter(self) -> Any:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llm = self._llm
        template = llm.metadata.get("tokenizer.chat_template") or _CHATML
        eos, bos = llm.token_eos(), llm.token_bos()
        return Jinja2ChatFormatter(
            template,
            eos_token=self._token_text(eos),
            bos_token=self._token_text(bos),
            stop_token_ids=[eos],
        )

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return bytes(self._llm.detokenize([token], special=True)).decode("utf-8", "replace")

    # -- request translation -------------------------------------------------------------

    def _turn(self, req: ChatCompletionRequest) -> _Turn:
        messages = [msgspec.to_builtins(m) for m in req.messages]
        for message in req.messages:
            if message.non_text_parts():
                parts = ", ".join(sorted(set(message.non_text_parts())))
                raise InvalidRequest(
                    f"tier {self.name} reads text only and this request has {parts} content; "
                    "send it to a tier with vision = true",
                    param="messages",
                )
        policy = self._tier.auto_tool_choice
        plan = tools.plan_tools(
            req.tools, req.tool_choice, req.parallel_tool_calls, messages, policy
        )
        prompt, stop = self._render(tools.render_messages(messages, tools.tools_prompt(plan)))
        grammar = tools.call_grammar(plan)
        if plan.produce == "text":  # structured output, else prose after tool results
            grammar = _format_gbnf(req) or grammar
        job = Job(
            self._tokens(prompt),
            req.token_limit,
            stop=[*_stops(req.stop), *([stop] if stop else [])],
            sampling=self._sampling(req, _CHAT_DEFAULTS, req.extra_fields),
            grammar=self._grammar(grammar) if grammar is not None else None,
            seed=req.seed,
        )
        return _Turn(job, plan, (req.top_logprobs or 0) if req.logprobs else None)

    @staticmethod
    def _sampling(req: object, defaults: dict[str, float], extra: dict[str, Any]) -> dict[str, Any]:
        vendor = {k: v for k in _VENDOR if isinstance(v := extra.get(k), int | float)}
        return {**defaults, **_given(req, _SAMPLING), **vendor}

    def _render(self, messages: list[dict[str, str]]) -> tuple[str, str | None]:
        try:
            result = self._formatter(messages=messages)
        except Exception as exc:  # jinja2's errors, and templates' raise_exception()
            raise InvalidRequest(
                f"tier {self.name}: the model's chat template rejected the messages: {exc}",
                param="messages",
            ) from exc
        stop = result.stop if isinstance(result.stop, str) else None
        return str(result.prompt), stop

    def _tokens(self, prompt: str) -> list[int]:
        """The prompt's tokens; one that leaves no room to answer is the client's error."""
        tokens: list[int] = self._llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        if len(tokens) >= self._tier.n_ctx:
            raise InvalidRequest(
                f"This model's maximum context length is {self._tier.n_ctx} tokens; the "
                f"messages take {len(tokens)} tokens",
                param="messages",
                code="context_length_exceeded",
            )
        return tokens

    def _grammar(self, gbnf: str) -> Any:
        from llama_cpp.llama_grammar import LlamaGrammar

        try:
            return LlamaGrammar.from_string(gbnf, verbose=False)
        except Exception as exc:  # a grammar llama.cpp cannot parse: the schema's fault
            raise InvalidRequest(f"the schema cannot be enforced: {exc}") from exc

    def _run(self, job: Job, top: int | None) -> tuple[AsyncGenerator[Piece, None], TokenRecorder]:
        recorder = TokenRecorder(self._llm, top)
        llm = self._llm
        pieces = generate(self._gate, lambda: decode(llm, job, recorder), recorder.stop, _error)
        return pieces, recorder

    async def _whole(self, job: Job, top: int | None) -> _Whole:
        """A generation run to its end (still stoppable: it streams underneath)."""
        whole = _Whole()
        pieces, recorder = self._run(job, top)
        async with contextlib.aclosing(pieces):  # a cancel stops the model now
            async for piece in pieces:
                whole.text += piece.text
                whole.finish = piece.finish_reason or whole.finish
                whole.scored.extend(piece.logprobs)
        whole.usage = _usage(recorder)
        return whole

    # -- chat ------------------------------------------------------------------------------

    async def chat(self, req: ChatCompletionRequest) -> ChatCompletion:
        """`n` choices are generated one after another (llama.cpp has one sequence); the
        prompt is billed once, as OpenAI does, and the completions are summed."""
        turn = self._turn(req)
        choices: list[Choice] = []
        usage = Usage()
        for index in range(req.n or 1):
            job = turn.job
            if index and req.seed is not None:  # the same seed would repeat choice 0
                job = dataclasses.replace(job, seed=req.seed + index)
            whole = await self._whole(job, turn.top_logprobs)
            usage.prompt_tokens = whole.usage.prompt_tokens
            usage.completion_tokens += whole.usage.completion_tokens
            message, finish = _message(turn.plan, whole.text, whole.finish)
            logprobs = {"content": whole.scored, "refusal": None} if req.logprobs else None
            choices.append(Choice(index, message, finish, logprobs))
        usage.total_tokens = usage.prompt_tokens + usage.completion_tokens
        return ChatCompletion(_chat_id(), int(time.time()), self.model, choices, usage=usage)

    async def stream(self, req: ChatCompletionRequest) -> AsyncIterator[ChatCompletionChunk]:
        if (req.n or 1) > 1:
            raise InvalidRequest(
                "streaming with n > 1 is not supported by the local tier", param="n"
            )
        turn = self._turn(req)
        chat_id, created = _chat_id(), int(time.time())

        def chunk(delta: Delta, finish: str | None = None, lp: Any = None) -> ChatCompletionChunk:
            return ChatCompletionChunk(
                chat_id, created, self.model, [ChunkChoice(0, delta, finish, lp)]
            )

        calls = _StreamedCalls(turn.plan)
        finish = "stop"
        yield chunk(Delta(role="assistant", content=None if calls.only_calls else ""))
        pieces, recorder = self._run(turn.job, turn.top_logprobs)
        async with contextlib.aclosing(pieces):  # a cancel stops the model now
            async for piece in pieces:
                finish = piece.finish_reason or finish
                logprobs = {"content": piece.logprobs, "refusal": None} if req.logprobs else None
                for delta in calls.deltas(piece):
                    yield chunk(delta, lp=logprobs)
                    logprobs = None if logprobs is None else {"content": [], "refusal": None}
        yield chunk(Delta(), calls.finish(finish))
        yield ChatCompletionChunk(chat_id, created, self.model, [], usage=_usage(recorder))

    # -- legacy text completions ----------------------------------------------------------

    def _text_job(self, req: CompletionRequest) -> Job:
        if not isinstance(req.prompt, str):
            raise InvalidRequest("the local tier takes one prompt string", param="prompt")
        if (req.n or 1) > 1:
            raise InvalidRequest("the local tier supports n=1 for text completions", param="n")
        if req.suffix:
            raise InvalidRequest("the local tier does not fill in a `suffix`", param="suffix")
        return Job(
            self._tokens(req.prompt),
            req.max_tokens,
            stop=_stops(req.stop),
            sampling=self._sampling(req, _TEXT_DEFAULTS, {}),
            seed=req.seed,
            echo=req.prompt if req.echo else "",
        )

    async def text(self, req: CompletionRequest) -> Completion:
        whole = await self._whole(self._text_job(req), None)
        choice = CompletionChoice(whole.text, 0, whole.finish)
        return Completion(_text_id(), int(time.time()), self.model, [choice], usage=whole.usage)

    async def text_stream(self, req: CompletionRequest) -> AsyncIterator[Completion]:
        job = self._text_job(req)
        text_id, created = _text_id(), int(time.time())
        pieces, recorder = self._run(job, None)
        async with contextlib.aclosing(pieces):  # a cancel stops the model now
            async for piece in pieces:
                choice = CompletionChoice(piece.text, 0, piece.finish_reason)
                yield Completion(text_id, created, self.model, [choice])
        yield Completion(text_id, created, self.model, [], usage=_usage(recorder))

    async def health(self) -> BackendHealth:
        """Up/loading/down, and how many requests wait for the one context."""
        if self._state.state != "up":
            return self._state
        busy = int(self._gate.waiting.locked())
        return BackendHealth(state="up", queue_depth=self._gate.queued, running=busy)

    async def close(self) -> None:
        import asyncio

        if self._llm is not None:
            llm, self._llm = self._llm, None
            await asyncio.to_thread(llm.close)


@dataclass
class _Whole:
    text: str = ""
    finish: str = "stop"
    scored: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)


class _StreamedCalls:
    """Turns a stream of generated text into content deltas or tool-call deltas."""

    def __init__(self, plan: tools.ToolPlan) -> None:
        self.only_calls = plan.produce == "call"
        self._mode: str | None = "call" if self.only_calls else None
        if plan.produce == "text":
            self._mode = "text"
        self._scanner = tools.CallScanner()
        self._held = ""

    def deltas(self, piece: Piece) -> list[Delta]:
        text = piece.text
        if self._mode is None:  # `either`: the first visible character decides
            self._held += text
            if not self._held.strip():
                return []
            self._mode = "call" if self._held.lstrip().startswith("[") else "text"
            text, self._held = self._held, ""
        if self._mode == "text":
            return [Delta(content=text)] if text else []
        return [Delta(tool_calls=[d]) for d in self._scanner.feed(text)]

    def finish(self, finish: str) -> str:
        if self._mode == "call" and self._scanner.tool_calls():
            return "tool_calls"
        return finish


def _message(plan: tools.ToolPlan, text: str, finish: str) -> tuple[ResponseMessage, str]:
    """The assistant message for a whole answer: text, or the tool calls it wrote."""
    wants_call = plan.produce == "call" or (
        plan.produce == "either" and text.lstrip().startswith("[")
    )
    if wants_call:
        scanner = tools.CallScanner()
        scanner.feed(text)
        calls = scanner.tool_calls()
        if calls:
            return ResponseMessage(content=None, tool_calls=calls), "tool_calls"
    return ResponseMessage(content=text), finish


def _format_gbnf(req: ChatCompletionRequest) -> str | None:
    """Structured output (`response_format`) as a grammar; None for free text."""
    response_format = req.response_format
    if not response_format:
        return None
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
        raise InvalidRequest(f"unsupported response_format type {kind!r}", param="response_format")
    try:
        return tools.schema_gbnf(schema or {"type": "object"})
    except Exception as exc:  # llama.cpp's converter raises bare exceptions
        raise InvalidRequest(
            f"response_format schema cannot be enforced: {exc}", param="response_format"
        ) from exc


def _stops(stop: str | list[str] | None) -> list[str]:
    return [stop] if isinstance(stop, str) else list(stop or [])


def _error(exc: BaseException) -> Exception:
    return BackendError(f"llama.cpp failed: {type(exc).__name__}: {exc}")


def _usage(recorder: TokenRecorder) -> Usage:
    prompt = recorder.prompt_tokens or 0
    return Usage(prompt, recorder.completion_tokens, prompt + recorder.completion_tokens)


def _chat_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def _text_id() -> str:
    return f"cmpl-{uuid.uuid4().hex}"


def _given(req: object, fields: tuple[str, ...]) -> dict[str, Any]:
    """The named request fields the client actually set (None means "backend default")."""
    return {f: v for f in fields if (v := getattr(req, f)) is not None}
