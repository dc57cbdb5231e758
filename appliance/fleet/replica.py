"""The box's semantic cache as a replica of the fleet's: local writes are published, the
other boxes' writes are applied here, and hits never leave the box.

`ReplicatedCache` is the one `SemanticCache` the runtime opens when a fleet is configured. Its
three writes (`store`, `invalidate`, `bump_epoch`) do what they always did, then queue the
same change for Redis (never waiting on it); the `apply_*` methods make a change that came
from another box, through the plain `SemanticCache` methods, so it is not published again.
Lookups are inherited untouched: a hit is the same in-process hnswlib search as on one box.

It must not talk to Redis itself: the outbox writes, the follower (`follower.py`) reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from appliance.cache.feedback import FeedbackOutcome
from appliance.cache.scope import CacheKey
from appliance.cache.semantic import SemanticCache
from appliance.fleet.entries import CacheLayout, FlushOp, InvalidateOp, SharedEntry, StoreOp
from appliance.fleet.outbox import Outbox

_DAY_S = 86_400.0


@dataclass
class Publisher:
    """Turns this box's cache writes into queued Redis writes."""

    outbox: Outbox
    layout: CacheLayout
    box: str
    max_len: int
    epoch: int = 0  # the fleet epoch this box is in (kept by the follower)

    def stored(
        self,
        entry_id: str,
        key: CacheKey,
        vector: np.ndarray,
        body: bytes,
        ttl_s: float,
        encoder: str,
    ) -> None:
        vec = np.asarray(vector, dtype=np.float32).tobytes()
        entry = SharedEntry.of(entry_id, key, vec, bytes(body), self.box, encoder)
        self.outbox.put(StoreOp(self.layout, entry, self.epoch, ttl_s, self.max_len))

    def invalidated(
        self, entry_id: str | None, scope: str | None, older_than_s: float | None
    ) -> None:
        self.outbox.put(
            InvalidateOp(self.layout, self.box, self.max_len, entry_id, scope, older_than_s)
        )

    def flushed(self) -> None:
        self.outbox.put(FlushOp(self.layout, self.box, self.max_len))


class ReplicatedCache(SemanticCache):
    """See the module docstring. `publisher` is attached by `Fleet.open_cache` before the
    cache is handed to the pipeline; until then writes stay local."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.publisher: Publisher | None = None

    # ----- this box's writes: local, then published ---------------------------------------

    def store(self, entry_id: str, key: CacheKey, vector: np.ndarray, response: bytes) -> None:
        super().store(entry_id, key, vector, response)
        if self.publisher is not None:
            ttl_s = self.config.ttl_days * _DAY_S
            encoder = "" if self.vectors is None else self.vectors.identity
            self.publisher.stored(entry_id, key, vector, response, ttl_s, encoder)

    def invalidate(
        self,
        *,
        entry_id: str | None = None,
        scope: str | None = None,
        older_than_s: float | None = None,
        everything: bool = False,
    ) -> int:
        if everything:
            count = self.stats().get("entries", 0)
            self.bump_epoch()
            return count if isinstance(count, int) else 0
        removed = super().invalidate(entry_id=entry_id, scope=scope, older_than_s=older_than_s)
        if self.publisher is not None:
            self.publisher.invalidated(entry_id, scope, older_than_s)
        return removed

    def bump_epoch(self) -> int:
        epoch = super().bump_epoch()
        if self.publisher is not None:
            self.publisher.flushed()
        return epoch

    def feedback(self, entry_id: str, wrong: bool) -> FeedbackOutcome:
        """An entry dropped for being wrong is dropped on every box. A raised bar stays on
        the box that heard the verdict (docs/fleet.md)."""
        outcome = super().feedback(entry_id, wrong)
        if outcome.action == "dropped" and self.publisher is not None:
            self.publisher.invalidated(entry_id, None, None)
        return outcome

    # ----- the other boxes' writes: local only ----------------------------------------------

    def apply_entry(self, entry: SharedEntry) -> bool:
        """An entry made by another encoder (a rolling upgrade, another precision) is
        embedded again here from its text; without an encoder to do that, one whose vector
        has another size is refused (False, nothing stored)."""
        key = entry.cache_key()
        vector = np.frombuffer(entry.vector, dtype=np.float32)
        if self.vectors is not None and entry.encoder != self.vectors.identity:
            vector = self.vectors.encode([key.text])[0]
        if vector.size != self.dim:
            return False
        SemanticCache.store(self, entry.id, key, vector, entry.response)
        return True

    def apply_invalidate(
        self, entry_id: str | None, scope: str | None, older_than_s: float | None
    ) -> int:
        return SemanticCache.invalidate(
            self, entry_id=entry_id, scope=scope, older_than_s=older_than_s
        )

    def apply_flush(self) -> None:
        SemanticCache.bump_epoch(self)
