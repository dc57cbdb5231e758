"""Tier 1 on a GPU: vLLM's OpenAI-compatible server, plus the load signals the router spills on.

Chat and streaming are plain OpenAI-compatible calls (inherited from `OpenAIBackend`). What
vLLM adds is `/health` and a Prometheus `/metrics` page; `health()` turns those into
`BackendHealth(queue_depth, running, kv_cache_usage)` so the router can spill to tier 2 before
a burst queues up (see `router/spill.py`).

Metric names move between vLLM releases (`gpu_cache_usage_perc` became
`kv_cache_usage_perc` in the V1 engine), so parsing is deliberately tolerant: unknown lines are
skipped, a missing metric is None (never 0, which would read as "idle"), and values are summed
across label sets (one per model name or engine).
"""

from __future__ import annotations

import asyncio
import math
import re
import time

import httpx
import msgspec

from appliance.backends.base import BackendHealth
from appliance.backends.openai_http import OpenAIBackend
from appliance.config import TierConfig

WAITING = ("vllm:num_requests_waiting",)
RUNNING = ("vllm:num_requests_running",)
# Newest first: V1 engines export kv_cache_usage_perc, V0 gpu_cache_usage_perc. Both are
# fractions (1.0 = full) despite the name.
KV_CACHE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")

# name{labels} value [timestamp]; label values may hold spaces, so take up to the last '}'.
_SAMPLE = re.compile(
    r"^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{.*\})?\s+(?P<value>\S+)(?:\s+-?\d+)?\s*$"
)


class VLLMLoad(msgspec.Struct, frozen=True):
    """Load read from one /metrics page; None where the server did not export the metric."""

    waiting: int | None = None
    running: int | None = None
    kv_cache_usage: float | None = None


def _samples(text: str) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue  # a line we don't understand must not hide the ones we do
        try:
            value = float(match.group("value"))
        except ValueError:
            continue
        if math.isnan(value):
            continue
        values.setdefault(match.group("name"), []).append(value)
    return values


def _first(values: dict[str, list[float]], names: tuple[str, ...]) -> list[float] | None:
    for name in names:
        if name in values:
            return values[name]
    return None


def parse_metrics(text: str) -> VLLMLoad:
    """Queue depth, running requests and KV-cache use (0..1) from vLLM's Prometheus text."""
    values = _samples(text)
    waiting = _first(values, WAITING)
    running = _first(values, RUNNING)
    kv = _first(values, KV_CACHE)
    kv_usage: float | None = None
    if kv:
        # Several engines (data parallel) each have their own cache: the fullest one decides.
        kv_usage = max(kv)
        if kv_usage > 1.0:
            kv_usage /= 100.0  # a build reporting percent, as the name suggests: normalise
        kv_usage = min(max(kv_usage, 0.0), 1.0)
    return VLLMLoad(
        waiting=round(sum(waiting)) if waiting else None,
        running=round(sum(running)) if running else None,
        kv_cache_usage=kv_usage,
    )


def server_root(base_url: str) -> str:
    """`http://host:8000/v1` -> `http://host:8000`: /health and /metrics live at the root."""
    root = base_url.rstrip("/")
    return root.removesuffix("/v1")


class VLLMBackend(OpenAIBackend):
    """An OpenAI-compatible vLLM server whose health carries its load.

    `health()` is cached for `cache_s` and refreshed by one caller at a time, so the router can
    ask on every request: a burst of 1,000 requests costs one scrape, not 1,000.
    """

    def __init__(
        self,
        tier: TierConfig,
        *,
        api_key: str | None = None,
        cache_s: float = 1.0,
        probe_timeout_s: float = 1.0,
    ) -> None:
        super().__init__(tier, api_key=api_key)
        self._root = server_root(tier.base_url)
        self._cache_s = cache_s
        self._probe = httpx.AsyncClient(timeout=httpx.Timeout(probe_timeout_s))
        self._lock = asyncio.Lock()
        self._cached: BackendHealth | None = None
        self._cached_at = 0.0

    async def health(self) -> BackendHealth:
        if self._is_fresh():
            assert self._cached is not None
            return self._cached
        async with self._lock:
            if not self._is_fresh():  # another caller may have refreshed while we waited
                self._cached = await self._scrape()
                self._cached_at = time.monotonic()
        assert self._cached is not None
        return self._cached

    def _is_fresh(self) -> bool:
        return self._cached is not None and time.monotonic() - self._cached_at < self._cache_s

    async def _scrape(self) -> BackendHealth:
        try:
            response = await self._probe.get(f"{self._root}/health")
        except httpx.HTTPError as exc:
            # Connection refused is also what a server still loading its weights looks like.
            return BackendHealth(
                state="down", detail=f"cannot reach vLLM at {self._root}: {type(exc).__name__}"
            )
        if response.status_code != 200:
            return BackendHealth(
                state="down", detail=f"vLLM /health returned {response.status_code}"
            )
        try:
            metrics = await self._probe.get(f"{self._root}/metrics")
        except httpx.HTTPError as exc:
            return BackendHealth(state="up", detail=f"no load: /metrics {type(exc).__name__}")
        if metrics.status_code != 200:
            return BackendHealth(state="up", detail=f"no load: /metrics {metrics.status_code}")
        load = parse_metrics(metrics.text)
        return BackendHealth(
            state="up",
            queue_depth=load.waiting,
            running=load.running,
            kv_cache_usage=load.kv_cache_usage,
        )

    async def close(self) -> None:
        await self._probe.aclose()
        await super().close()
