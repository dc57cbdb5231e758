"""Process-lifetime objects and their start/stop order; live reconfiguration.

Built in the app's lifespan and reached by handlers through DI as `runtime`; never module
globals. The HTTP port opens at once (`/healthz` answers) while models load in the background;
`/readyz` says 503 until they have, and systemd hears READY=1 only then.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance import notify, overrides
from appliance.admin.messages import ConfigPatch
from appliance.backends.registry import TierSet, build_tiers
from appliance.cache.semantic import SemanticCache
from appliance.config import Config, ConfigError, load_config
from appliance.embedding.batcher import EmbeddingBatcher
from appliance.embedding.encoder import Encoder
from appliance.errors import BackendUnavailable
from appliance.ledger.billing import Billing
from appliance.ledger.db import Ledger, LedgerWriteError
from appliance.ledger.prices import PriceTable
from appliance.pipeline import Pipeline
from appliance.reload import install_reload_handler
from appliance.router.classifier import RouterClassifier
from appliance.router.policy import RoutingPolicy, ScoreProfile
from appliance.security import BudgetTracker, KeyStore, load_or_create_admin_token
from appliance.telemetry.bus import EventBus
from appliance.telemetry.metrics import Metrics
from appliance.telemetry.system import SystemSampler

log = logging.getLogger("appliance")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def default_shares(n_tiers: int) -> list[float]:
    """Without operator cut points: the hardest 5% to the top tier, 25% to the middle, rest
    local (the case study's split). Two tiers: 80/20."""
    if n_tiers == 2:
        return [0.8, 0.2]
    middle = [0.25 / (n_tiers - 2)] * (n_tiers - 2)
    return [0.70, *middle, 0.05]


@dataclass
class Runtime:
    config: Config
    tiers: TierSet
    pipeline: Pipeline
    bus: EventBus
    metrics: Metrics
    keys: KeyStore
    admin_token: str
    sampler: SystemSampler = field(default_factory=SystemSampler)
    started_at: float = field(default_factory=time.time)
    encoder: Encoder | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    status: str = "starting"
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _saved_overrides: dict[str, object] = field(default_factory=dict)
    # Why the ledger could not be opened (None when it is fine), for /admin/stats.
    ledger_error: str | None = None
    _profile: ScoreProfile | None = None
    _unhook_reload: Callable[[], None] | None = None
    # The file the config came from (None: defaults or $APPLIANCE_CONFIG), for SIGHUP.
    config_path: str | None = None

    @classmethod
    def build(cls, config: Config) -> Runtime:
        state = config.state_path
        state.mkdir(parents=True, exist_ok=True)
        saved = overrides.load(state)
        config = overrides.apply_saved(config, saved)
        tiers = build_tiers(config)
        billing = Billing(config, PriceTable.load(config.ledger.prices))
        for tier in tiers.tiers:
            price = billing.price_of(tier.config)
            tier.is_free = price.input == 0 and price.output == 0
        bus, metrics = EventBus(), Metrics()
        bus.add_listener(metrics.observe)
        ledger_error = None
        try:
            ledger: Ledger | None = Ledger(
                state / "ledger.sqlite", max_size_mb=config.ledger.max_size_mb
            )
        except LedgerWriteError as exc:
            # Serving beats accounting: answer requests, and say loudly what is not recorded.
            log.error("LEDGER UNAVAILABLE, spend is NOT being recorded: %s", exc)
            ledger, ledger_error = None, str(exc)
        pipeline = Pipeline(
            config, tiers, billing, bus, ledger=ledger, budgets=BudgetTracker(ledger)
        )
        token = load_or_create_admin_token(
            state, config.security.admin_token, config.security.admin_token_file
        )
        runtime = cls(config, tiers, pipeline, bus, metrics, KeyStore.open(state), token)
        runtime._saved_overrides = saved
        if config.server.host not in _LOOPBACK and not runtime.keys.has_keys():
            log.warning(
                "LISTENING ON %s WITH NO CLIENT KEYS: anyone who can reach this address can "
                "spend on your tiers. Add keys with `appliance keys add NAME`.",
                config.server.host,
            )
        runtime.ledger_error = ledger_error
        if len(tiers.tiers) > 1:
            # Loaded here, not in the background, so bad cut points fail start-up loudly.
            classifier = RouterClassifier.load()
            runtime._profile = ScoreProfile.from_metadata(classifier.metadata)
            pipeline.classifier = classifier
            try:
                pipeline.policy = runtime.build_policy(config)
            except ValueError as exc:
                raise ConfigError(f"config: {exc}") from None
        return runtime

    async def start(self) -> None:
        self._unhook_reload = install_reload_handler(asyncio.get_running_loop(), self.reload)
        self._tasks.append(asyncio.create_task(self._load()))
        self._tasks.append(asyncio.create_task(self.sampler.run(2.0)))
        self._tasks.append(asyncio.create_task(notify.watchdog_loop()))

    async def _load(self) -> None:
        try:
            self._status("loading the encoder")
            self.encoder = await asyncio.to_thread(Encoder)
            embedder = EmbeddingBatcher(self.encoder)
            embedder.start()
            self.pipeline.embedder = embedder
            self.pipeline.count_tokens = self.encoder.count_tokens
            # Opened even when disabled, so the operator can switch it on live.
            self._status("opening the cache")
            self.pipeline.cache = await asyncio.to_thread(
                SemanticCache,
                self.config.state_path / "cache",
                self.config.cache,
                self.encoder.dim,
                self.encoder.sees_whole,
            )
            self._status("loading models")
            await self.tiers.start()
            available = [t.name for t in self.tiers.tiers if t.is_available]
            log.info("ready; tiers available: %s", ", ".join(available) or "none")
            self.status = "ready"
            self.ready.set()
            notify.notify(ready=True, status="ready")
        except Exception:
            self.status = "failed"
            log.exception("start-up failed; exiting so the service manager can restart us")
            notify.notify(status="start-up failed")
            # A daemon that can never become ready must not sit unready until a start
            # timeout: SIGTERM ourselves so uvicorn shuts down and the exit is non-zero.
            os.kill(os.getpid(), signal.SIGTERM)
            raise

    def _status(self, text: str) -> None:
        self.status = text
        notify.notify(status=text)

    def target_shares(self, config: Config | None = None) -> list[float] | None:
        """The shares in force: configured, else the default split; None with cut points."""
        config = config or self.config
        if config.router.cut_points is not None or len(config.tiers) < 2:
            return None
        return config.router.target_shares or default_shares(len(config.tiers))

    def build_policy(self, config: Config) -> RoutingPolicy | None:
        n = len(config.tiers)
        if n < 2 or self._profile is None:
            return None
        router = config.router
        shares = self.target_shares(config)
        if shares is None:
            assert router.cut_points is not None
            return RoutingPolicy.fixed(router.cut_points, self._profile)
        return RoutingPolicy.by_shares(shares, self._profile, window=router.window)

    def ensure_ready(self) -> None:
        if not self.ready.is_set():
            raise BackendUnavailable(f"The appliance is still starting ({self.status})")

    def count_tokens(self, text: str) -> int:
        assert self.encoder is not None
        return self.encoder.count_tokens(text)

    # -- live reconfiguration -------------------------------------------------------------

    async def reload(self) -> None:
        """SIGHUP: re-read the config file, keep the operator's live overrides. Tier list,
        URLs, host and port need a restart; a failed reload keeps the running config."""
        fresh = overrides.apply_saved(load_config(self.config_path), self._saved_overrides)
        if [t.name for t in fresh.tiers] != [t.name for t in self.config.tiers]:
            raise ConfigError("config: tiers: adding, removing or renaming tiers needs a restart")
        self._install(fresh, self.build_policy(fresh))
        log.info("configuration reloaded")

    def apply(self, patch: ConfigPatch) -> Config:
        """Validate, apply without restart, persist. Raises ConfigError (the caller's 400)."""
        config = overrides.apply_patch(self.config, patch)
        try:
            policy = self.build_policy(config)  # checks cut points against the model's range
        except ValueError as exc:
            raise ConfigError(f"config: {exc}") from None
        merged = overrides.merge(self._saved_overrides, patch)
        overrides.save(self.config.state_path, merged)
        self._saved_overrides = merged
        self._install(config, policy)
        return config

    def _install(self, config: Config, policy: RoutingPolicy | None) -> None:
        self.config = config
        self.pipeline.config = config
        if self.pipeline.cache is not None:
            self.pipeline.cache.config = config.cache
        if policy is not None:
            self.pipeline.policy = policy
        for tier, tier_config in zip(self.tiers.tiers, config.tiers, strict=True):
            tier.enabled = tier_config.enabled
            tier.config = tier_config
        self.pipeline.billing.update(config)

    async def close(self) -> None:
        if self._unhook_reload is not None:
            self._unhook_reload()
        for task in self._tasks:
            task.cancel()
        await self.tiers.close()
        pipeline = self.pipeline
        if pipeline.embedder is not None:
            pipeline.embedder.close()
        if pipeline.cache is not None:
            await asyncio.to_thread(pipeline.cache.close)
        if pipeline.ledger is not None:
            pipeline.ledger.close()
        self.sampler.close()
        notify.notify(stopping=True)
