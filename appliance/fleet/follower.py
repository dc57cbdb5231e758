"""Follows the fleet's cache stream: applies the other boxes' changes to this box's replica,
and catches up when the box starts or Redis comes back.

The catch-up rule. The box keeps a cursor (the last stream id it applied) and the fleet epoch
in `<state_dir>/fleet/cursor.json`. On start and after every Redis outage:
1. If the fleet's epoch moved while the box was away (someone flushed the cache), the box
   flushes its replica too. If Redis lost the epoch key (a Redis without persistence was
   restarted), the box puts back the epoch it knew, so a Redis restart never flushes a box.
2. If the stream still holds the cursor's entry (the box was away for fewer than
   `stream_max_len` changes), it resumes from the cursor: every missed store, invalidation and
   flush is replayed in order.
3. Otherwise it takes a snapshot: it notes the stream's last id, loads every shared entry of
   the epoch it lacks, then follows the stream from the noted id. A change made during the
   snapshot is read twice; applying is idempotent (an entry id already held is skipped).
   What a snapshot cannot replay is an invalidation by id or scope of an entry the box still
   holds from before; TTL and the size bound still remove it in time (docs/fleet.md).

A store event carries the entry's creation time; now minus that is the replication lag.
It must not publish anything: applying goes through `ReplicatedCache.apply_*`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import msgspec
import redis

from appliance.fleet.entries import CacheLayout, decode, scan_entries
from appliance.fleet.link import RedisLink, RedisTrouble
from appliance.fleet.replica import Publisher, ReplicatedCache

log = logging.getLogger("appliance.fleet")

CURSOR_FILE = "cursor.json"
_DAY_S = 86_400.0
Event = tuple[bytes, dict[bytes, bytes]]


def _id(text: str | bytes) -> tuple[int, int]:
    raw = text.decode() if isinstance(text, bytes) else text
    ms, _, seq = raw.partition("-")
    return int(ms), int(seq or 0)


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Follower:
    def __init__(
        self,
        link: RedisLink,
        layout: CacheLayout,
        cache: ReplicatedCache,
        publisher: Publisher,
        state_dir: Path,
        block_s: float = 0.5,
    ) -> None:
        self._link = link
        self._layout = layout
        self._cache = cache
        self._publisher = publisher
        self._box = publisher.box.encode()
        self._path = state_dir / CURSOR_FILE
        self._block_ms = max(10, int(block_s * 1000))
        self.cursor, self.epoch = self._load()
        publisher.epoch = self.epoch
        self.synced = False
        self.applied = 0
        self.snapshots = 0
        self.resumes = 0
        self.lags_s: deque[float] = deque(maxlen=2048)
        self._saved_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet-follower", daemon=True)

    # ----- the cursor file ----------------------------------------------------------------

    def _load(self) -> tuple[str | None, int]:
        try:
            data = json.loads(self._path.read_text())
            return (str(data["cursor"]) if data.get("cursor") else None), int(data["epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            return None, 0

    def save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"cursor": self.cursor, "epoch": self.epoch}))
        os.replace(tmp, self._path)
        self._saved_at = time.monotonic()

    # ----- the thread ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        if self.synced:
            self.save()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._link.usable():
                self._stop.wait(0.1)
                continue
            try:
                if not self.synced:
                    self.catch_up(self._link.slow)
                self.follow(self._link.slow)
                self._link.ok()
            except RedisTrouble as exc:
                self._link.failed(exc)
                self.synced = False
            except Exception:  # a bug here must not kill replication for good
                log.exception("fleet: applying the cache stream failed")
                self.synced = False
                self._stop.wait(1.0)

    # ----- catching up --------------------------------------------------------------------

    def catch_up(self, r: redis.Redis) -> str:
        """Steps 1-3 of the module docstring; returns "resumed" or "snapshot"."""
        layout = self._layout
        if self.epoch and r.set(layout.epoch, self.epoch, nx=True):
            log.warning("fleet: Redis had no cache epoch; restored %d", self.epoch)
        fleet_epoch = int(r.get(layout.epoch) or 0)
        moved = fleet_epoch != self.epoch
        if moved and self.cursor is not None:
            self._cache.apply_flush()  # the fleet was flushed while this box was away
        self._set_epoch(fleet_epoch)
        info = self._stream_info(r)
        if not moved and self._can_resume(info):
            how = "resumed"
            self.resumes += 1
        else:
            start = info["last-generated-id"] if info else b"0-0"
            oldest = time.time() - self._cache.config.ttl_days * _DAY_S
            for entry in scan_entries(r, layout, fleet_epoch):
                if entry.created >= oldest:
                    self._cache.apply_entry(entry)
            self.cursor = start.decode() if isinstance(start, bytes) else str(start)
            how = "snapshot"
            self.snapshots += 1
        self.synced = True
        self.save()
        log.info("fleet: cache replica caught up (%s, epoch %d)", how, fleet_epoch)
        return how

    def _stream_info(self, r: redis.Redis) -> dict[str, object] | None:
        try:
            info: dict[str, object] = r.xinfo_stream(self._layout.stream)
        except redis.ResponseError:  # no such key: nothing was ever published
            return None
        return info

    def _can_resume(self, info: dict[str, object] | None) -> bool:
        if self.cursor is None or info is None:
            return False
        cursor = _id(self.cursor)
        last = info.get("last-generated-id")
        if not isinstance(last, bytes | str) or cursor > _id(last):
            return False  # a stream newer than the one the cursor came from
        first = info.get("first-entry")
        if not first:
            return cursor == _id(last)
        return _id(first[0]) <= cursor  # type: ignore[index]

    def _set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._publisher.epoch = epoch

    # ----- following ----------------------------------------------------------------------

    def follow(self, r: redis.Redis) -> int:
        """One blocking read of the stream (up to `block_s`); returns the events applied."""
        stream = self._layout.stream
        reply = r.xread({stream: self.cursor or "0-0"}, count=500, block=self._block_ms)
        events: list[Event] = reply[0][1] if reply else []  # type: ignore[assignment,index]
        if events:
            self.apply(r, events)
            self.cursor = events[-1][0].decode()
        if time.monotonic() - self._saved_at > 1.0:
            self.save()
        return len(events)

    def apply(self, r: redis.Redis, events: list[Event]) -> None:
        stores = [f for _, f in events if f.get(b"k") == b"store" and f.get(b"box") != self._box]
        pipe = r.pipeline(transaction=False)
        for fields in stores:
            pipe.hget(self._layout.entries(int(fields[b"e"])), fields[b"id"])
        blobs = iter(pipe.execute() if stores else [])
        ttl_s = self._cache.config.ttl_days * _DAY_S
        for _, fields in events:
            kind, mine = fields.get(b"k"), fields.get(b"box") == self._box
            if kind == b"store" and not mine:
                blob = next(blobs)
                if blob is not None and int(fields[b"e"]) == self.epoch:
                    self._apply_store(blob, ttl_s)
            elif kind == b"inv" and not mine:
                older = fields.get(b"older")
                self._cache.apply_invalidate(
                    fields[b"id"].decode() if b"id" in fields else None,
                    fields[b"scope"].decode() if b"scope" in fields else None,
                    float(older) if older is not None else None,
                )
            elif kind == b"epoch" and int(fields[b"e"]) > self.epoch:
                if not mine:
                    self._cache.apply_flush()
                self._set_epoch(int(fields[b"e"]))

    def _apply_store(self, blob: bytes, ttl_s: float) -> None:
        try:
            entry = decode(blob)
        except msgspec.DecodeError:
            return
        now = time.time()
        if entry.created < now - ttl_s:
            return
        if self._cache.apply_entry(entry):
            self.applied += 1
            self.lags_s.append(max(0.0, time.time() - entry.created))

    def lag_ms(self) -> tuple[float | None, float | None]:
        """(p50, p99) replication lag in ms over the last 2,048 entries from other boxes."""
        lags = list(self.lags_s)
        p50, p99 = percentile(lags, 0.5), percentile(lags, 0.99)
        return (
            None if p50 is None else p50 * 1000.0,
            None if p99 is None else p99 * 1000.0,
        )
