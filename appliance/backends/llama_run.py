"""One llama.cpp generation, run cooperatively: a worker thread that stops within a token.

llama.cpp is blocking and single-context. Every generation (chat or text, streamed or not)
is one token loop over `Llama.generate` in a worker thread (`decode`), so that:

- **it can be stopped**: the loop checks a flag before each token. When the caller goes away
  (its task cancelled, or its async iterator closed) the flag is set and the thread ends
  within a token, instead of generating to `max_tokens` while holding the model (a client
  that hung up used to make the next request wait a minute);
- **one generation owns the model at a time**: a thread lock taken inside the worker, so
  even a caller cancelled twice cannot start a second generation on the same context; an
  asyncio lock in front of it queues waiting requests without tying up threads;
- **every sampled token is known**: counted (usage is llama.cpp's own count, the same in a
  stream and a whole answer) and, when asked, scored (`logprobs`/`top_logprobs`) from the
  logits llama.cpp hands the sampler, so no `logits_all` buffer (n_ctx x vocab floats) is
  needed.

Stop sequences are held back while they may still be forming, and so are the first bytes of
a multi-byte UTF-8 character, so a streamed piece never ends inside either.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_DONE = object()
# The sampling settings `Llama.generate` takes, by the names clients use.
_GENERATE = {
    "temperature": "temp",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "repeat_penalty": "repeat_penalty",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
}


@dataclass
class Piece:
    """One streamed text piece with the scored tokens sampled since the previous one."""

    text: str
    finish_reason: str | None
    logprobs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Job:
    """What to generate: prompt tokens, a token limit, stop strings, sampling, a grammar."""

    tokens: list[int]
    max_tokens: int | None
    stop: list[str] = field(default_factory=list)
    sampling: dict[str, Any] = field(default_factory=dict)
    grammar: Any = None
    seed: int | None = None
    echo: str = ""


class TokenRecorder:
    """Counts and scores sampled tokens; its `stop` flag ends the generation."""

    def __init__(self, llm: Any, top_logprobs: int | None) -> None:
        self.stop = threading.Event()
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._llm = llm
        self._top = top_logprobs
        self._logits: np.ndarray | None = None
        self._scored: list[dict[str, Any]] = []

    def process(self, input_ids: Any, scores: np.ndarray) -> np.ndarray:
        """A logits processor: keeps this step's logits (indexed by token id) to score."""
        if self._top is not None:
            self._logits = np.array(scores, dtype=np.float64)
        return scores

    def sampled(self, token: int) -> None:
        self.completion_tokens += 1
        if self._top is not None and self._logits is not None:
            self._scored.append(self._score(token, self._logits))

    def _score(self, token: int, logits: np.ndarray) -> dict[str, Any]:
        """OpenAI's chat logprob entry: token, logprob, bytes, top_logprobs."""
        shifted = logits - logits.max()
        logprobs = shifted - np.log(np.exp(shifted).sum())
        top: list[int] = []
        if self._top:
            best = np.argpartition(-logprobs, self._top)[: self._top]
            top = [int(t) for t in best[np.argsort(-logprobs[best])]]
        return {
            **self._entry(token, float(logprobs[token])),
            "top_logprobs": [self._entry(t, float(logprobs[t])) for t in top],
        }

    def _entry(self, token: int, logprob: float) -> dict[str, Any]:
        raw = bytes(self._llm.detokenize([token], special=True))
        return {"token": raw.decode("utf-8", "replace"), "logprob": logprob, "bytes": list(raw)}

    def take(self) -> list[dict[str, Any]]:
        scored, self._scored = self._scored, []
        return scored


def decode(llm: Any, job: Job, recorder: TokenRecorder) -> Iterator[Piece]:
    """The token loop (blocking; runs in the worker thread)."""
    import llama_cpp
    from llama_cpp import LogitsProcessorList

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    room = llm.n_ctx() - len(job.tokens)
    limit = room if not job.max_tokens else min(job.max_tokens, room)
    seed = job.seed if job.seed is not None else random.Random(llm._seed).randint(0, 2**32)
    llm.set_seed(seed)
    recorder.prompt_tokens = len(job.tokens)
    stops = [s.encode("utf-8") for s in job.stop if s]
    sampling = {_GENERATE[k]: v for k, v in job.sampling.items() if k in _GENERATE}
    tokens = llm.generate(
        job.tokens,
        grammar=job.grammar,
        logits_processor=LogitsProcessorList([recorder.process]),
        **sampling,
    )
    completion: list[int] = []
    text, sent, finish = b"", 0, "length"
    if job.echo:
        yield Piece(job.echo, None)
    try:
        for token in tokens:
            if recorder.stop.is_set() or llama_cpp.llama_vocab_is_eog(vocab, token):
                finish = "stop"
                break
            recorder.sampled(token)
            completion.append(token)
            text = bytes(llm.detokenize(completion, prev_tokens=job.tokens))
            hits = [i for s in stops if (i := text.find(s)) >= 0]
            if hits:
                text, finish = text[: min(hits)], "stop"
                break
            ready = _utf8_boundary(text, len(text) - _forming_stop(text, stops))
            if ready > sent:
                yield Piece(text[sent:ready].decode("utf-8", "replace"), None, recorder.take())
                sent = ready
            if len(completion) >= limit:
                break
    finally:
        tokens.close()
    yield Piece(text[sent:].decode("utf-8", "replace"), finish, recorder.take())


def _forming_stop(text: bytes, stops: list[bytes]) -> int:
    """How many trailing bytes could be the start of a stop sequence."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


def _utf8_boundary(text: bytes, end: int) -> int:
    """`end`, moved back so it does not cut a multi-byte UTF-8 character."""
    for back in range(1, min(4, end) + 1):
        byte = text[end - back]
        if byte & 0xC0 == 0x80:  # a continuation byte: keep looking for the lead byte
            continue
        width = 4 if byte >= 0xF0 else 3 if byte >= 0xE0 else 2 if byte >= 0xC0 else 1
        return end - back if width > back else end
    return end


class ModelGate:
    """The model's two locks: an asyncio queue in front, a thread lock around the context."""

    def __init__(self) -> None:
        self.waiting = asyncio.Lock()
        self.context = threading.Lock()
        # Requests waiting their turn (the router reads it as the tier's queue depth).
        self.queued = 0


async def generate(
    gate: ModelGate,
    run: Callable[[], Iterator[Piece]],
    stop: threading.Event,
    on_error: Callable[[BaseException], Exception],
) -> AsyncGenerator[Piece, None]:
    """Stream one generation's pieces; closing or cancelling the consumer stops it."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()

    def produce() -> None:
        try:
            with gate.context:
                for piece in run():
                    loop.call_soon_threadsafe(queue.put_nowait, piece)
        except BaseException as exc:  # delivered to the consumer, which re-raises it
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, _DONE)

    gate.queued += 1
    try:
        await gate.waiting.acquire()
    finally:
        gate.queued -= 1
    try:
        worker = asyncio.ensure_future(asyncio.to_thread(produce))
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise on_error(item) from item
                yield item
        finally:
            stop.set()
            # Hold the queue until the thread has let go of the model; a second cancel ends
            # this wait early, but the thread lock still keeps the context single.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(worker)
    finally:
        gate.waiting.release()
