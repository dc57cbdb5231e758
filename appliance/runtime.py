"""Process-lifetime objects, their start/stop order, and live reconfiguration.

Built in the app's lifespan and reached by handlers through DI as `runtime`; never module
globals. The HTTP port opens at once (`/healthz` answers) while models load in the background;
`/readyz` says 503 until they have, and systemd hears READY=1 only then.

Assembly happens in two steps, each all-or-nothing. `build` makes what is cheap and must fail
start-up loudly when misconfigured (tiers, prices, ledger, keys, admin token, the router and
its policy). `_load` then loads the models (encoder, cache index, local LLM) and assembles the
`Pipeline` with every part required. Until then `pipeline` raises "still starting" (a 503):
that is the one place anything checks whether a part exists.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import os
import signal
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance import notify, overrides
from appliance.admin.messages import ConfigPatch
from appliance.backends.registry import TierSet, build_tiers
from appliance.cache.semantic import SemanticCache
from appliance.cache.verifier import Verifier
from appliance.config import Config, ConfigError, load_config
from appliance.embedding.batcher import EmbeddingBatcher
from appliance.embedding.encoder import Encoder
from appliance.errors import BackendUnavailable
from appliance.fleet.fleet import Fleet
from appliance.ledger.billing import Billing
from appliance.ledger.budgets import BudgetTracker
from appliance.ledger.db import LEDGER_FILE, Ledger, LedgerWriteError
from appliance.ledger.prices import PriceTable
from appliance.pipeline import Pipeline
from appliance.pipeline.accounting import Accounting
from appliance.reload import install_reload_handler
from appliance.router.calibration import QualityCurve
from appliance.router.classifier import RouterClassifier
from appliance.router.policy import RoutingPolicy, ScoreProfile, build_policy, target_shares
from appliance.security.admin_token import load_or_create_admin_token
from appliance.security.keys import KeyStore
from appliance.telemetry.bus import EventBus
from appliance.telemetry.metrics import Metrics
from appliance.telemetry.system import SystemSampler

log = logging.getLogger("appliance")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class Runtime:
    config: Config
    tiers: TierSet
    accounting: Accounting
    classifier: RouterClassifier
    policy: RoutingPolicy
    bus: EventBus
    metrics: Metrics
    keys: KeyStore
    admin_token: str
    # Why the ledger could not be opened (None when it is fine), for /admin/stats.
    ledger_error: str | None = None
    # The file the config came from (None: defaults or $APPLIANCE_CONFIG), for SIGHUP.
    config_path: str | None = None
    # Shared cache, budgets and figures through Redis (`[fleet] redis_url`); None: one box.
    fleet: Fleet | None = None
    sampler: SystemSampler = field(default_factory=SystemSampler)
    started_at: float = field(default_factory=time.time)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    status: str = "starting"
    _pipeline: Pipeline | None = None
    _embedder: EmbeddingBatcher | None = None
    _published: EmbeddingBatcher | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _saved_overrides: dict[str, object] = field(default_factory=dict)
    _unhook_reload: Callable[[], None] | None = None

    @classmethod
    def build(cls, config: Config, config_path: str | None = None) -> Runtime:
        state = config.state_path
        _make_private(state)
        saved = overrides.load(state)
        config = overrides.apply_saved(config, saved)
        tiers = build_tiers(config)
        billing = Billing(config, PriceTable.for_config(config))
        if (warning := billing.prices.stale_warning(dt.date.today())) is not None:
            log.warning("%s", warning)
        for tier in tiers.tiers:
            price = billing.price_of(tier.config)
            tier.is_free = price.input == 0 and price.output == 0
        bus, metrics = EventBus(), Metrics()
        bus.add_listener(metrics.observe)
        ledger, ledger_error = _open_ledger(config)
        fleet = Fleet.for_config(config)
        budgets = fleet.open_budgets(ledger) if fleet is not None else BudgetTracker(ledger)
        accounting = Accounting(billing, budgets, bus, ledger, config.security)
        # Loaded here, not in the background, so bad cut points fail start-up loudly.
        classifier = RouterClassifier.load()
        policy = _policy(config, classifier.metadata)
        token = load_or_create_admin_token(
            state, config.security.admin_token, config.security.admin_token_file
        )
        runtime = cls(
            config,
            tiers,
            accounting,
            classifier,
            policy,
            bus,
            metrics,
            KeyStore.open(state),
            token,
            ledger_error=ledger_error,
            config_path=config_path,
            fleet=fleet,
        )
        runtime._saved_overrides = saved
        if config.server.host not in _LOOPBACK and not runtime.keys.has_keys():
            log.warning(
                "LISTENING ON %s WITH NO CLIENT KEYS: anyone who can reach this address can "
                "spend on your tiers. Add keys with `appliance keys add NAME`.",
                config.server.host,
            )
        return runtime

    @property
    def pipeline(self) -> Pipeline:
        """The assembled request path; a 503 until the models have loaded."""
        if self._pipeline is None or not self.ready.is_set():
            raise BackendUnavailable(f"The appliance is still starting ({self.status})")
        return self._pipeline

    @property
    def cache(self) -> SemanticCache | None:
        """The cache once opened (admin views work before the whole pipeline is ready)."""
        return self._pipeline.cache if self._pipeline is not None else None

    async def start(self) -> None:
        self._unhook_reload = install_reload_handler(asyncio.get_running_loop(), self.reload)
        self._tasks.append(asyncio.create_task(self._load()))
        self._tasks.append(asyncio.create_task(self.sampler.run(2.0)))
        self._tasks.append(asyncio.create_task(notify.watchdog_loop()))

    async def _load(self) -> None:
        try:
            self._status("loading the encoder")
            settings = self.config.cache
            encoder = await asyncio.to_thread(
                Encoder, device=settings.encoder_device, precision=settings.encoder_precision
            )
            self._embedder = EmbeddingBatcher(
                encoder,
                recent_size=self.config.cache.embedding_memo,
                on_run=self.metrics.observe_embed_batch,
                on_recent=self.metrics.observe_embed_memo,
            )
            self._embedder.start()
            if encoder.precision != "fp32":
                # /v1/embeddings answers with the packaged fp32 model: a client's stored
                # vectors must not change space when the cache's encoder gets faster.
                published = await asyncio.to_thread(
                    Encoder, device=settings.encoder_device, precision="fp32"
                )
                self._published = EmbeddingBatcher(published, recent_size=0)
                self._published.start()
            # Opened even when disabled, so the operator can switch it on live.
            log.info("encoder on %s, %s", encoder.device, encoder.precision)
            self.metrics.encoder_device(encoder.device, encoder.precision)
            self._status("opening the cache")
            open_cache = SemanticCache if self.fleet is None else self.fleet.open_cache
            began = time.monotonic()
            cache = await asyncio.to_thread(
                open_cache,
                self.config.state_path / "cache",
                self.config.cache,
                encoder.dim,
                encoder.sees_whole,
                Verifier() if self.config.cache.verifier else None,
                functools.partial(self._entries_progress, "indexing the cache"),
                vectors=encoder,
                reembed_progress=functools.partial(
                    self._entries_progress, "embedding the cache again for the new encoder"
                ),
            )
            log.info(
                "cache: index %s, %s entries (%s embedded again for this encoder), in %.1f s",
                cache.opened,
                f"{cache.stats()['entries']:,}",
                f"{cache.reembedded:,}",
                time.monotonic() - began,
            )
            if self.fleet is not None:
                self.fleet.start()  # catch-up runs while the models load
            self._status("loading models")
            await self.tiers.start()
            self._pipeline = Pipeline(
                self.config,
                self.tiers,
                self._embedder,
                cache,
                self.classifier,
                self.policy,
                self.accounting,
                encoder.count_tokens,
                self._published,
            )
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

    def _entries_progress(self, step: str, done: int, total: int) -> None:
        """A start-up step over every cache entry (an index repair or rebuild; a re-embed for
        a new encoder, docs/encoder.md): in `/readyz`, the service status, the log."""
        text = f"{step}: {done:,} of {total:,} entries"
        self._status(text)
        log.info(text)

    def _status(self, text: str) -> None:
        self.status = text
        notify.notify(status=text)

    def target_shares(self) -> list[float] | None:
        """The shares in force: configured, else the default split; None with cut points."""
        return target_shares(self.config.router, len(self.config.tiers))

    # -- live reconfiguration -------------------------------------------------------------

    async def reload(self) -> None:
        """SIGHUP: re-read the config file, keep the operator's live overrides. Tier list,
        URLs, host and port need a restart; a failed reload keeps the running config."""
        fresh = overrides.apply_saved(load_config(self.config_path), self._saved_overrides)
        if [t.name for t in fresh.tiers] != [t.name for t in self.config.tiers]:
            raise ConfigError("config: tiers: adding, removing or renaming tiers needs a restart")
        self._install(fresh, _policy(fresh, self.classifier.metadata))
        log.info("configuration reloaded")

    def apply(self, patch: ConfigPatch) -> Config:
        """Validate, apply without restart, persist. Raises ConfigError (the caller's 400)."""
        config = overrides.apply_patch(self.config, patch)
        # Checks cut points against the model's range.
        policy = _policy(config, self.classifier.metadata)
        merged = overrides.merge(self._saved_overrides, patch)
        overrides.save(self.config.state_path, merged)
        self._saved_overrides = merged
        self._install(config, policy)
        return config

    @functools.cached_property
    def curve(self) -> QualityCurve | None:
        """The shipped router's quality/cost curve (admin previews, the TUI); None for a
        model trained without one. Read once: the model is loaded once per process."""
        return QualityCurve.optional(self.classifier.metadata)

    def _install(self, config: Config, policy: RoutingPolicy) -> None:
        self.config, self.policy = config, policy
        self.accounting.security = config.security
        self.accounting.billing.update(config)
        for tier, tier_config in zip(self.tiers.tiers, config.tiers, strict=True):
            tier.enabled = tier_config.enabled
            tier.config = tier_config
        if self._pipeline is not None:
            self._pipeline.config, self._pipeline.policy = config, policy
            self._pipeline.cache.config = config.cache

    async def close(self) -> None:
        if self._unhook_reload is not None:
            self._unhook_reload()
        for task in self._tasks:
            task.cancel()
        await self.tiers.close()
        for embedder in (self._embedder, self._published):
            if embedder is not None:
                embedder.close()
        if self.fleet is not None:
            await asyncio.to_thread(self.fleet.close)
        if self._pipeline is not None:
            await asyncio.to_thread(self._pipeline.cache.close)
        if self.accounting.ledger is not None:
            self.accounting.ledger.close()
        self.sampler.close()
        notify.notify(stopping=True)


def _make_private(state: Path) -> None:
    """The state dir 0700 and what is in it 0600/0700, whatever created it before (an older
    version, a copy, a shell with a loose umask): it holds keys, the ledger and answers."""
    state.mkdir(parents=True, exist_ok=True)
    for path in [state, *state.rglob("*")]:
        mode = path.stat().st_mode
        if stat.S_IMODE(mode) & 0o077 and not path.is_symlink():
            os.chmod(path, 0o700 if stat.S_ISDIR(mode) else 0o600)


def _open_ledger(config: Config) -> tuple[Ledger | None, str | None]:
    try:
        path = config.state_path / LEDGER_FILE
        return Ledger(path, max_size_mb=config.ledger.max_size_mb), None
    except LedgerWriteError as exc:
        # Serving beats accounting: answer requests, and say loudly what is not recorded.
        log.error("LEDGER UNAVAILABLE, spend is NOT being recorded: %s", exc)
        return None, str(exc)


def _policy(config: Config, metadata: dict[str, Any]) -> RoutingPolicy:
    try:
        profile = ScoreProfile.from_metadata(metadata)
        curve = QualityCurve.optional(metadata)
        return build_policy(config.router, len(config.tiers), profile, curve)
    except ValueError as exc:
        raise ConfigError(f"config: {exc}") from None
