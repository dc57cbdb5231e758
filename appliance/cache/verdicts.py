"""What clients say about served entries: a wrong flag, or a re-ask with `no-cache`.

The methods here are part of `SemanticCache` (a mixin, kept apart so the facade stays one
screenful per concern); they apply the rules in `feedback.py` under the cache's write lock
and persist the result in the store.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import numpy as np

from appliance.cache.catalogue import Catalogue
from appliance.cache.feedback import (
    FeedbackOutcome,
    FeedbackPolicy,
    ServedScores,
    raised_bar,
    record,
)
from appliance.cache.matching import Lookup
from appliance.cache.scope import CacheKey
from appliance.cache.store import Entry, EntryStore, Flag
from appliance.cache.verifier import Verifier
from appliance.config import CacheConfig


class Verdicts:
    # Provided by SemanticCache.
    config: CacheConfig
    verifier: Verifier | None
    _write: threading.Lock
    _store: EntryStore
    _cat: Catalogue
    _served: ServedScores
    _counts: Counter[str]
    _remove: Callable[[list[str]], int]
    _fits: Callable[[str], bool]
    _find_exact: Callable[[CacheKey, float], Entry | None]
    _find_semantic: Callable[[CacheKey, np.ndarray], Lookup]

    def feedback(self, entry_id: str, wrong: bool) -> FeedbackOutcome:
        """A client's verdict on a served entry (`POST /admin/cache/feedback`). Wrong after a
        semantic serve: the entry's own bar rises just above the score it was served at, so
        that wording (and anything the verifier is less sure of) misses from now on. Wrong
        after an exact serve (the answer itself is wrong), or flagged too often: dropped."""
        with self._write:
            entry = self._store.get(entry_id)
            if entry is None or entry_id not in self._cat.labels:
                flag = self._store.get_flag(entry_id)
                return FeedbackOutcome(entry_id, "unknown", flag.bar if flag else 0.0, 0)
            if not wrong:
                self._counts["feedback_right"] += 1
                return FeedbackOutcome(entry_id, "kept", entry.bar, entry.flags)
            self._counts["feedback_wrong"] += 1
            served = self._served.pop(entry_id)
            rules = FeedbackPolicy.from_config(self.config)
            flags = entry.flags + 1
            if served is None or flags >= rules.drop_after:
                self._remove([entry_id])
                return record(self._store, entry, flags, entry.bar, True, "wrong")
            bar = raised_bar(entry.bar, served, rules)
            self._store.set_bar(entry_id, bar, flags)
            return record(self._store, entry, flags, bar, False, "wrong")

    def reasked(self, key: CacheKey, vector: np.ndarray) -> FeedbackOutcome | None:
        """The client asked again with `Cache-Control: no-cache`: it did not want what the
        cache would have served. If that would have been a semantic hit, the entry's bar
        rises above this wording's score. An exact repeat needs nothing here: the fresh
        answer replaces the entry when it is stored."""
        if not self.config.enabled or self.verifier is None or not self._fits(key.text):
            return None
        if self._find_exact(key, time.time() - self.config.ttl_days * 86400.0) is not None:
            return None
        found = self._find_semantic(key, vector)
        if found.outcome != "hit" or found.entry_id is None or found.score is None:
            return None
        rules = FeedbackPolicy.from_config(self.config)
        with self._write:
            entry = self._store.get(found.entry_id)
            if entry is None:
                return None
            bar = raised_bar(entry.bar, found.score, rules)
            self._store.set_bar(entry.id, bar, entry.flags)
            self._counts["feedback_no_cache"] += 1
            return record(self._store, entry, entry.flags, bar, False, "no-cache")

    def flagged(self, limit: int = 50) -> list[Flag]:
        """Entries with feedback against them, most recent first (for the TUI)."""
        return sorted(self._store.flags(), key=lambda f: -f.last)[: max(0, limit)]
