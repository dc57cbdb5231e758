"""Micro-batching of concurrent embedding requests into single ONNX runs.

It owns the queue between asyncio request handlers and the encoder: one worker thread
takes everything waiting (up to `max_batch`) and runs one `encode` over it. It must not
know what the vectors are for, and must not add a fixed wait: at concurrency 1 the first
text runs at once; texts that arrive while a run is in progress form the next batch. So
batching costs nothing when idle and amortises the per-run overhead under load (on 2 cores
one run of 32 short texts takes far less than 32 runs of one).

Results go back with `loop.call_soon_threadsafe`, because asyncio futures are not
thread-safe; a failed run fails every future in that batch with the same exception.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class _Encoder(Protocol):
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future[np.ndarray]
    loop: asyncio.AbstractEventLoop


_STOP = object()


class EmbeddingBatcher:
    """`await embed(text)` from any number of coroutines; one encoder call per batch."""

    def __init__(
        self,
        encoder: _Encoder,
        max_batch: int = 64,
        recent_size: int = 4096,
        on_run: Callable[[int], None] | None = None,
        on_recent: Callable[[], None] | None = None,
    ) -> None:
        self.encoder = encoder
        self.max_batch = max_batch
        self.recent_size = recent_size
        self.recent_hits = 0
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self.runs = 0  # encoder calls made, for tests and stats
        self.embedded = 0
        # Telemetry hooks: texts per run (called on the worker thread), a memo hit.
        self._on_run = on_run
        self._on_recent = on_recent
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="embed-batcher", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Finish what is queued, then stop the worker."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    async def embed(self, text: str) -> np.ndarray:
        """One unit vector (dim,) for `text`; a text seen recently is not encoded again (the
        same wording of a popular question, re-asked, is a semantic hit without an
        encoder run). Called on the event loop only, so the LRU needs no lock."""
        cached = self._recent.get(text)
        if cached is not None:
            self._recent.move_to_end(text)
            self.recent_hits += 1
            if self._on_recent is not None:
                self._on_recent()
            return cached
        vectors: np.ndarray = await self.embed_many([text])
        vector = np.asarray(vectors[0])
        vector.setflags(write=False)
        if self.recent_size > 0:
            self._recent[text] = vector
            if len(self._recent) > self.recent_size:
                self._recent.popitem(last=False)
        return vector

    async def embed_many(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors (len(texts), dim); the texts are batched with other callers'."""
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        if self._thread is None:
            raise RuntimeError("EmbeddingBatcher.start() was not called")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self._queue.put(_Job(list(texts), future, loop))
        return await future

    def _work(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            jobs: list[_Job] = [first]  # type: ignore[list-item]
            size = len(jobs[0].texts)
            while size < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                jobs.append(item)  # type: ignore[arg-type]
                size += len(item.texts)  # type: ignore[attr-defined]
            self._run(jobs)

    def _run(self, jobs: list[_Job]) -> None:
        texts = [t for job in jobs for t in job.texts]
        try:
            vectors = self.encoder.encode(texts)
        except Exception as exc:
            for job in jobs:
                job.loop.call_soon_threadsafe(_fail, job.future, exc)
            return
        self.runs += 1
        self.embedded += len(texts)
        if self._on_run is not None:
            self._on_run(len(texts))
        start = 0
        for job in jobs:
            part = vectors[start : start + len(job.texts)]
            start += len(job.texts)
            job.loop.call_soon_threadsafe(_resolve, job.future, part)


def _resolve(future: asyncio.Future[np.ndarray], value: np.ndarray) -> None:
    if not future.done():  # the caller may have been cancelled
        future.set_result(value)


def _fail(future: asyncio.Future[np.ndarray], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
