"""One box's membership of a fleet: the parts that share its cache, budgets and figures
through Redis, assembled once by the runtime, started and stopped with it.

    runtime.build  -> Fleet(config) and fleet.open_budgets(ledger)   (no network yet)
    runtime._load  -> fleet.open_cache(...) replaces SemanticCache(...), then fleet.start()
    runtime.close  -> fleet.close(): the follower stops, queued writes get a second to drain

Threads: the writer (every Redis write, the figures, the budget view, pruning) and the
follower (the cache stream). The request path touches Redis only for budget holds, with a
short timeout and a local fallback; everything else is queued or read in the background.
"""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path
from typing import Any

import redis

from appliance.admin.messages import FleetBox, FleetStats
from appliance.config import Config, FleetConfig
from appliance.fleet import figures
from appliance.fleet.budgets import FleetBudgets, month_key
from appliance.fleet.entries import CacheLayout, prune
from appliance.fleet.follower import Follower
from appliance.fleet.link import RedisLink, redact
from appliance.fleet.outbox import Outbox, Writer
from appliance.fleet.replica import Publisher, ReplicatedCache
from appliance.ledger.db import Ledger

log = logging.getLogger("appliance.fleet")
STATE_DIR = "fleet"


def box_name(config: Config) -> str:
    """This box's name: `[fleet] box_name`, else "<hostname>:<port>" (stable across restarts)."""
    return config.fleet.box_name or f"{socket.gethostname()}:{config.server.port}"


class Fleet:
    def __init__(self, config: FleetConfig, box: str, state_dir: Path) -> None:
        self.config = config
        self.box = box
        self.link = RedisLink(config)
        self.outbox = Outbox(config.queue_max)
        self.writer = Writer(self.link, self.outbox, config.publish_interval_s)
        self.layout = CacheLayout(config.key_prefix)
        self.publisher = Publisher(self.outbox, self.layout, box, config.stream_max_len)
        self._state = state_dir / STATE_DIR
        self._ledger: Ledger | None = None
        self.budgets: FleetBudgets | None = None
        self.cache: ReplicatedCache | None = None
        self.follower: Follower | None = None
        self.boxes: list[FleetBox] = []
        self.figures_at = 0.0

    @classmethod
    def for_config(cls, config: Config) -> Fleet | None:
        """The fleet part of this config, or None on a single box (no `redis_url`)."""
        if not config.fleet.redis_url:
            return None
        fleet = cls(config.fleet, box_name(config), config.state_path)
        log.info("fleet: box %s, Redis %s", fleet.box, redact(config.fleet.redis_url))
        return fleet

    def open_budgets(self, ledger: Ledger | None) -> FleetBudgets:
        self._ledger = ledger
        budgets = FleetBudgets(ledger, self.link, self.outbox, self.box, self.config.hold_ttl_s)
        self.writer.after_reconnect(budgets.resend)
        self.writer.every_interval(budgets.refresh)
        self.budgets = budgets
        return budgets

    def open_cache(self, *args: Any, **kwargs: Any) -> ReplicatedCache:
        """Open the box's cache (the `SemanticCache` arguments) as the fleet's replica."""
        cache = ReplicatedCache(*args, **kwargs)
        cache.publisher = self.publisher
        block_s = min(0.5, self.config.timeout_s / 2)
        self.follower = Follower(
            self.link, self.layout, cache, self.publisher, self._state, block_s
        )
        self.cache = cache
        return cache

    def start(self) -> None:
        self.writer.every_interval(self._publish_figures)
        self.writer.every_interval(self._prune)
        self.writer.start()
        if self.follower is not None:
            self.follower.start()

    def close(self) -> None:
        if self.follower is not None:
            self.follower.stop()
        self.writer.flush(1.0)
        self.writer.stop()
        self.link.close()

    # ----- periodic jobs (writer thread) --------------------------------------------------

    def _publish_figures(self, r: redis.Redis) -> None:
        now = time.time()
        own = figures.box_figures(self.box, self._ledger, now)
        if self.cache is not None:
            own.cache_entries = int(self.cache.stats().get("entries", 0))  # type: ignore[call-overload]
        if self.follower is not None:
            own.lag_p50_ms, own.lag_p99_ms = self.follower.lag_ms()
        own.queued_writes = len(self.outbox)
        prefix = self.config.key_prefix
        figures.publish(r, prefix, own)
        interval = self.config.publish_interval_s
        self.boxes = figures.read_boxes(r, prefix, month_key(now), interval, now)
        self.figures_at = now

    def _prune(self, r: redis.Redis) -> None:
        if self.cache is not None:
            config = self.cache.config
            prune(r, self.layout, config.ttl_days * 86_400.0, config.max_entries)

    # ----- what /admin/stats shows --------------------------------------------------------

    def stats(self) -> FleetStats:
        follower = self.follower
        lag = follower.lag_ms() if follower is not None else (None, None)
        today, month = figures.totals(self.boxes, time.time())
        return FleetStats(
            box=self.box,
            redis_url=redact(self.config.redis_url),
            redis=self.link.state(),
            budgets="fleet" if self.link.is_up else "local",
            queued_writes=len(self.outbox),
            dropped_writes=self.outbox.dropped,
            applied_entries=follower.applied if follower is not None else 0,
            snapshots=follower.snapshots if follower is not None else 0,
            lag_p50_ms=lag[0],
            lag_p99_ms=lag[1],
            holds=dict(self.budgets.counts) if self.budgets is not None else {},
            today=today,
            month=month,
            boxes=self.boxes,
            figures_at=self.figures_at,
        )
