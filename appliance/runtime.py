"""Process-lifetime objects (config, tiers, encoder, pipeline) and their start/stop order.

Built in the app's lifespan and reached by handlers through DI as `runtime`; never module
globals. Models load in the background so `/healthz` answers at once and `/readyz` says 503
until everything is loaded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from appliance.backends.registry import TierSet, build_tiers
from appliance.config import Config
from appliance.embedding.encoder import Encoder
from appliance.errors import BackendUnavailable
from appliance.pipeline import Pipeline

log = logging.getLogger("appliance")


@dataclass
class Runtime:
    config: Config
    tiers: TierSet
    pipeline: Pipeline
    started_at: float = field(default_factory=time.time)
    encoder: Encoder | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    status: str = "starting"
    _loader: asyncio.Task[None] | None = None

    @classmethod
    def build(cls, config: Config) -> Runtime:
        tiers = build_tiers(config)
        return cls(config=config, tiers=tiers, pipeline=Pipeline(config, tiers))

    async def start(self) -> None:
        self._loader = asyncio.create_task(self._load())

    async def _load(self) -> None:
        try:
            self.status = "loading encoder"
            self.encoder = await asyncio.to_thread(Encoder)
            self.status = "loading models"
            await self.tiers.start()
            available = [t.name for t in self.tiers.tiers if t.is_available]
            log.info("ready; tiers available: %s", ", ".join(available) or "none")
            self.status = "ready"
            self.ready.set()
        except Exception:
            self.status = "failed"
            log.exception("start-up failed")
            raise

    def ensure_ready(self) -> None:
        if not self.ready.is_set():
            raise BackendUnavailable(f"The appliance is still starting ({self.status})")

    async def embed_many(self, texts: list[str]) -> np.ndarray:
        assert self.encoder is not None
        return await asyncio.to_thread(self.encoder.encode, texts)

    def count_tokens(self, text: str) -> int:
        assert self.encoder is not None
        return self.encoder.count_tokens(text)

    async def close(self) -> None:
        if self._loader is not None and not self._loader.done():
            self._loader.cancel()
        await self.tiers.close()
