"""Fakes for fast pipeline unit tests, named as such: the integration tests use the real
backends (llama.cpp, an OpenAI-compatible server on loopback) and the real encoder.

`FakeBackend` plays a queue of scripted behaviours, one per call (like llm's MockModel):
answer, fail with a given tier fault, reject the request, stream and then cut, or answer
with something that breaks the requested JSON schema. `FakeEmbedder` gives each text a
deterministic unit vector (equal texts, equal vectors), so the real cache can be exercised
without loading the ONNX encoder.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from appliance.backends.base import BackendHealth
from appliance.backends.circuit import CircuitBreaker
from appliance.backends.registry import Tier, TierSet
from appliance.cache.semantic import SemanticCache
from appliance.config import CircuitConfig, Config, Price, SecurityConfig, TierConfig
from appliance.errors import (
    BackendError,
    BackendRateLimited,
    BackendTimeout,
    InvalidRequest,
)
from appliance.ledger.billing import Billing
from appliance.ledger.budgets import BudgetTracker
from appliance.ledger.db import Ledger
from appliance.ledger.prices import PriceTable
from appliance.pipeline import Pipeline
from appliance.pipeline.accounting import Accounting
from appliance.router.policy import RoutingPolicy, ScoreProfile
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
from appliance.telemetry.bus import EventBus

# Tier faults the cascade must escalate on, by the route reason they produce.
FAULTS: dict[str, BackendError] = {
    "timeout": BackendTimeout("fake: timed out"),
    "rate_limited": BackendRateLimited("fake: 429", retry_after_s=30.0),
    "error": BackendError("fake: upstream returned 500"),
}


@dataclass
class Script:
    """One call's behaviour. `fault`: raise it at the first byte; `cut_after`: stream that
    many chunks, then fail; `text`: the answer; `reject`: a client error."""

    text: str = "fake answer"
    fault: BackendError | None = None
    reject: str | None = None
    cut_after: int | None = None
    empty: bool = False
    tool_call: bool = False
    delay_s: float = 0.0
    finish: str = "stop"


@dataclass
class FakeBackend:
    name: str
    model: str
    scripts: deque[Script] = field(default_factory=deque)
    calls: list[ChatCompletionRequest | CompletionRequest] = field(default_factory=list)
    # What health() reports as waiting requests (a busy local model).
    queued: int | None = None

    def then(self, *scripts: Script) -> FakeBackend:
        self.scripts.extend(scripts)
        return self

    def _next(self, req: ChatCompletionRequest | CompletionRequest) -> Script:
        self.calls.append(req)
        script = self.scripts.popleft() if self.scripts else Script()
        if script.reject:
            raise InvalidRequest(
                f"tier {self.name}: upstream rejected the request: {script.reject}"
            )
        if script.fault is not None and script.cut_after is None:
            raise script.fault
        return script

    async def start(self) -> None:
        return None

    async def chat(self, req: ChatCompletionRequest) -> ChatCompletion:
        script = self._next(req)
        await asyncio.sleep(script.delay_s)
        calls = [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
        message = ResponseMessage(
            content=None if script.tool_call else script.text,
            tool_calls=calls if script.tool_call else None,
        )
        finish = "tool_calls" if script.tool_call else script.finish
        return ChatCompletion(
            "fake-id", 1, self.model, [Choice(0, message, finish)], usage=_usage(script.text)
        )

    async def stream(self, req: ChatCompletionRequest) -> AsyncIterator[ChatCompletionChunk]:
        script = self._next(req)
        if script.empty:
            return
        words = script.text.split(" ")
        for i, word in enumerate(words):
            if script.cut_after is not None and i == script.cut_after:
                raise script.fault or BackendError("fake: stream cut")
            piece = word if i == 0 else " " + word
            yield ChatCompletionChunk(
                "fake-id", 1, self.model, [ChunkChoice(0, Delta(content=piece))]
            )
        yield ChatCompletionChunk(
            "fake-id", 1, self.model, [ChunkChoice(0, Delta(), finish_reason="stop")]
        )
        yield ChatCompletionChunk("fake-id", 1, self.model, [], usage=_usage(script.text))

    async def text(self, req: CompletionRequest) -> Completion:
        script = self._next(req)
        await asyncio.sleep(script.delay_s)
        choice = CompletionChoice(script.text, finish_reason="stop")
        return Completion("fake-id", 1, self.model, [choice], usage=_usage(script.text))

    async def text_stream(self, req: CompletionRequest) -> AsyncIterator[Completion]:
        script = self._next(req)
        if script.empty:
            return
        for i, word in enumerate(script.text.split(" ")):
            if script.cut_after is not None and i == script.cut_after:
                raise script.fault or BackendError("fake: stream cut")
            yield Completion("fake-id", 1, self.model, [CompletionChoice(word)])
        yield Completion("fake-id", 1, self.model, [CompletionChoice("", finish_reason="stop")])
        yield Completion("fake-id", 1, self.model, [], usage=_usage(script.text))

    async def health(self) -> BackendHealth:
        return BackendHealth(queue_depth=self.queued)

    async def close(self) -> None:
        return None


def _usage(text: str) -> Usage:
    completion = len(text.split())
    return Usage(prompt_tokens=10, completion_tokens=completion, total_tokens=10 + completion)


class FakeEmbedder:
    """A deterministic unit vector per text (sha256-seeded), no ONNX."""

    dim = 384

    def vector(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return np.asarray(v / np.linalg.norm(v), dtype=np.float32)

    async def embed(self, text: str) -> np.ndarray:
        return self.vector(text)

    async def embed_many(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.vector(t) for t in texts])


class FakeScorer:
    """The router's classifier, fixed to one score."""

    def __init__(self, score: float = 0.1) -> None:
        self.value = score

    def score(self, vectors: np.ndarray, texts: list[str]) -> np.ndarray:
        return np.full(len(texts), self.value)


@dataclass
class Rig:
    pipeline: Pipeline
    backends: list[FakeBackend]
    ledger: Ledger
    bus: EventBus

    @property
    def tiers(self) -> list[Tier]:
        return self.pipeline.tiers.tiers

    def rows(self) -> list[tuple[str, str, str]]:
        """(tier, status, cache) of every ledger row, oldest first."""
        return [(r.tier, r.status, r.cache) for r in self.ledger.rows()]

    def close(self) -> None:
        self.pipeline.cache.close()
        self.ledger.close()


def make_rig(
    tmp_path: Path,
    n_tiers: int = 3,
    *,
    prices: Sequence[float] | None = None,
    on_budget_exceeded: str = "reject",
    score: float = 0.1,
    local_backend: str = "openai",
) -> Rig:
    """A pipeline over `n_tiers` fake backends, with the real cache, ledger and billing."""
    names = ["local", "cloud", "frontier"][:n_tiers]
    prices = prices if prices is not None else [0.0, 1.0, 10.0][:n_tiers]
    configs = [
        TierConfig(
            name=n,
            backend=local_backend if i == 0 else "openai",  # type: ignore[arg-type]
            model=f"{n}-model",
            price=Price(p, p),
        )
        for i, (n, p) in enumerate(zip(names, prices, strict=True))
    ]
    config = Config(
        state_dir=str(tmp_path / "state"),
        tiers=configs,
        security=SecurityConfig(on_budget_exceeded=on_budget_exceeded),  # type: ignore[arg-type]
        circuit=CircuitConfig(failures_to_open=3),
    )
    backends = [FakeBackend(c.name, c.model) for c in configs]
    tiers = TierSet(
        [
            Tier(i, c, b, CircuitBreaker(config.circuit), is_free=c.price == Price())
            for i, (c, b) in enumerate(zip(configs, backends, strict=True))
        ]
    )
    ledger = Ledger(tmp_path / "ledger.sqlite")
    bus = EventBus()
    billing = Billing(config, PriceTable.load(config.ledger.prices))
    accounting = Accounting(billing, BudgetTracker(ledger), bus, ledger, config.security)
    embedder = FakeEmbedder()
    cache = SemanticCache(tmp_path / "cache", config.cache, embedder.dim)
    profile = ScoreProfile((0.0, 1.0), 0.0, 1.0)
    policy = (
        RoutingPolicy.fixed([0.5, 0.8][: n_tiers - 1], profile)
        if n_tiers > 1
        else RoutingPolicy.single(profile)
    )
    pipeline = Pipeline(
        config,
        tiers,
        embedder,
        cache,
        FakeScorer(score),
        policy,
        accounting,
        lambda text: len(text.split()),
    )
    return Rig(pipeline, backends, ledger, bus)
