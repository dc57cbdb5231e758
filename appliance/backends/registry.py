"""Builds the configured tiers' backends and says which are available and why not.

A tier whose API key is missing, or whose model fails to load, is unavailable with a reason
(one log line at start-up), never a crash: the appliance serves with the tiers it has. A tier
with several `base_urls` gets one backend per URL inside a `ReplicaSet` (`replicas.py`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import msgspec

from appliance.backends.base import Backend
from appliance.backends.circuit import CircuitBreaker
from appliance.backends.llamacpp import LlamaCppBackend
from appliance.backends.openai_http import MissingKey, OpenAIBackend
from appliance.backends.replicas import ReplicaSet
from appliance.config import CircuitConfig, Config, TierConfig
from appliance.errors import BackendError

log = logging.getLogger("appliance.backends")


@dataclass
class Tier:
    index: int
    config: TierConfig
    backend: Backend | None
    circuit: CircuitBreaker
    unavailable: str | None = None
    enabled: bool = True
    # Set by the ledger's price table at start-up: a tier that costs nothing per token.
    is_free: bool = False

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def model(self) -> str:
        return self.config.model or self.config.name

    @property
    def is_available(self) -> bool:
        return self.enabled and self.backend is not None and self.unavailable is None

    @property
    def serving(self) -> Backend:
        """The backend, for a tier a plan chose; an unavailable one fails like a dead tier."""
        if self.backend is None or not self.is_available:
            raise BackendError(f"tier {self.name} is not available")
        return self.backend

    def would_allow(self) -> bool:
        return self.circuit.would_allow()

    @property
    def status(self) -> str:
        if not self.enabled:
            return "disabled"
        if self.backend is None or self.unavailable:
            return f"unavailable ({self.unavailable})"
        return "up" if self.circuit.state == "closed" else f"circuit {self.circuit.state}"


@dataclass
class TierSet:
    tiers: list[Tier] = field(default_factory=list)

    async def start(self) -> None:
        for tier in self.tiers:
            if tier.backend is None:
                continue
            try:
                await tier.backend.start()
            except Exception as exc:  # a broken tier must not take the others down
                tier.unavailable = f"failed to start: {type(exc).__name__}: {exc}"
                log.error("tier %s unavailable: %s", tier.name, tier.unavailable)

    async def close(self) -> None:
        for tier in reversed(self.tiers):
            if tier.backend is not None:
                await tier.backend.close()


def build_backend(tier: TierConfig, circuit: CircuitConfig | None = None) -> Backend:
    if tier.base_urls:
        one_each = [msgspec.structs.replace(tier, base_url=u, base_urls=[]) for u in tier.base_urls]
        replicas = [(t.base_url, build_backend(t)) for t in one_each]
        if len(replicas) == 1:
            return replicas[0][1]
        return ReplicaSet(tier, replicas, circuit or CircuitConfig())
    if tier.backend == "llamacpp":
        return LlamaCppBackend(tier)
    if tier.backend == "vllm":
        from appliance.backends.vllm import VLLMBackend

        return VLLMBackend(tier)
    return OpenAIBackend(tier)


def build_tiers(config: Config) -> TierSet:
    tiers = TierSet()
    for index, tier_config in enumerate(config.tiers):
        try:
            backend: Backend | None = build_backend(tier_config, config.circuit)
            reason = None
        except MissingKey as exc:
            backend, reason = None, str(exc)
            log.warning("tier %s unavailable: %s", tier_config.name, reason)
        tiers.tiers.append(
            Tier(
                index,
                tier_config,
                backend,
                CircuitBreaker(config.circuit),
                reason,
                enabled=tier_config.enabled,
            )
        )
    return tiers
