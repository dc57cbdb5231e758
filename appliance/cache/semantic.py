"""The semantic cache facade: exact tier, then hnswlib neighbours in scope, then a verifier.

A semantic hit needs the index to find the entry above a loose cosine (`candidate_threshold`)
and the verifier (`verifier.py`, which reads both questions) to give it at least
`verifier_threshold`, or the entry's own bar, raised by feedback (`feedback.py`). Without a
verifier the old rule applies: cosine >= `threshold` and the lexical guards.

It owns the lookup and store protocol, keeping store, index and catalogue in step: TTL, the
entry-count bound (LRU), invalidation, the epoch, and the background thread that saves the
index and flushes hit counters. It must not embed text (beyond `reembed.py` at start-up, when
the encoder changed), decide cacheability (`policy.py`) or speak HTTP.

Everything here is synchronous. Lookups take no lock: they read the catalogue (whose
single-key updates are atomic under the GIL), the index (under its read lock) and diskcache
(SQLite readers). All writes go through one lock, so there is one writer. A lookup never
writes to disk: hits and last-used times are counted in memory and flushed by the saver.

Start-up loads the saved index and its manifest (catalogue snapshot). If the manifest's store
generation or epoch differs from the store's (a crash after writes), the index is repaired
from the store; if the index file is missing or damaged it is rebuilt from the store.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np

from appliance.cache.catalogue import Catalogue
from appliance.cache.feedback import ServedScores
from appliance.cache.index import VectorIndex
from appliance.cache.matching import Lookup, choose, screen
from appliance.cache.rebuild import Progress, open_index
from appliance.cache.reembed import VectorSource, follow_encoder
from appliance.cache.scope import CacheKey, exact_hash
from appliance.cache.store import Entry, EntryStore
from appliance.cache.verdicts import Verdicts
from appliance.cache.verifier import Verifier, VerifyPolicy
from appliance.config import CacheConfig

# Neighbours fetched from the index; a blocked one does not hide a later one that passes
# (e.g. "order 48231" stored next to "order 48213"). At most `verifier_candidates` of those
# above the loose cosine are verified, in one batch.
_CANDIDATES = 4


class SemanticCache(Verdicts):
    """See the module docstring. `config` may be replaced at any time (live tuning)."""

    def __init__(
        self,
        directory: Path,
        config: CacheConfig,
        dim: int = 384,
        sees_whole: Callable[[str], bool] | None = None,
        verifier: Verifier | None = None,
        progress: Progress | None = None,
        vectors: VectorSource | None = None,
        reembed_progress: Progress | None = None,
    ) -> None:
        self.config = config
        # None keeps the pre-verifier rule (cosine >= threshold + guards).
        self.verifier = verifier
        # The encoder's "this text fits my window" test: a text longer than the window is
        # never matched semantically (its vector ignores its tail), only exactly.
        self._sees_whole = sees_whole
        self.dim = dim
        self._dir = Path(directory)
        self._store = EntryStore(self._dir / "entries")
        self._write = threading.Lock()
        self._pending: dict[str, tuple[int, float]] = {}
        # Counters are bumped without a lock from lookup threads: approximate under races.
        self._counts: Counter[str] = Counter()
        self._served = ServedScores()
        self._last_save: float | None = None
        self._epoch = self._store.epoch
        # The encoder whose vectors this cache holds; None: the caller keeps one encoder
        # (a replay's scratch cache) and nothing is checked.
        self.vectors = vectors
        self.reembedded = (
            0
            if vectors is None
            else follow_encoder(
                self._store, vectors, self._dir / "index", reembed_progress or progress
            )
        )
        self._index, self._cat, self.opened = open_index(
            self._dir / "index", self._store, dim, progress
        )
        self._dirty = self.opened != "loaded"
        self._stop = threading.Event()
        self._saver = threading.Thread(target=self._save_loop, name="cache-saver", daemon=True)
        self._saver.start()

    # ----- lookup -------------------------------------------------------------------------

    def lookup_exact(self, key: CacheKey) -> Lookup | None:
        """The exact tier alone: a hit needs no embedding, so the pipeline asks this first
        and embeds only on a miss. None means "no exact hit" (nothing is counted yet). The
        same question asked again right after its own answer, in the same conversation, is
        an exact repeat of that earlier ask."""
        config = self.config
        if not config.enabled:
            return None
        found = self._find_exact(key, time.time() - config.ttl_days * 86400.0)
        return None if found is None else self._hit(found, 1.0, "exact", time.time(), None)

    def _find_exact(self, key: CacheKey, oldest: float) -> Entry | None:
        entry = self._entry_at(key.scope, key.text, oldest, key.exact)
        if entry is None and key.parent is not None and key.parent_text == key.text:
            entry = self._entry_at(key.parent, key.text, oldest)
        return entry

    def _entry_at(
        self, scope: str, text: str, oldest: float, exact: str | None = None
    ) -> Entry | None:
        entry_id = self._store.find_exact(exact or exact_hash(scope, text))
        return None if entry_id is None else self._live_entry(entry_id, scope, oldest)

    def lookup(self, key: CacheKey, vector: np.ndarray) -> Lookup:
        config = self.config
        if not config.enabled:
            return Lookup("miss", None, None, None, None, None)
        exact = self.lookup_exact(key)
        return exact if exact is not None else self.lookup_semantic(key, vector)

    def lookup_semantic(self, key: CacheKey, vector: np.ndarray) -> Lookup:
        """The semantic tier alone (after `lookup_exact` missed)."""
        if not self.config.enabled:
            return Lookup("miss", None, None, None, None, None)
        if not self._fits(key.text):
            self._counts["blocked_too_long"] += 1
            return self._miss(None, "too_long")
        found = self._find_semantic(key, vector)
        if found.outcome == "hit" and found.entry_id is not None:
            entry = self._store.get(found.entry_id)
            if entry is not None:
                return self._hit(entry, found.similarity or 0.0, "semantic", time.time(), found)
        if found.blocked_by:
            self._counts[f"blocked_{found.blocked_by}"] += 1
        return self._miss(found.similarity, found.blocked_by, found.score)

    def _find_semantic(self, key: CacheKey, vector: np.ndarray) -> Lookup:
        """What the semantic tier would serve, without counting anything."""
        config = self.config
        policy = VerifyPolicy.from_config(config)
        loose = policy.candidate_threshold if self.verifier is not None else config.threshold
        oldest = time.time() - config.ttl_days * 86400.0
        vec = np.asarray(vector, dtype=np.float32).reshape(-1)
        candidates: list[tuple[Entry, float]] = []
        best: float | None = None
        scope = self._cat.scope_ids.get(key.scope)
        if scope is not None and key.text:
            results = self._index.search(vec, _CANDIDATES, scope, loose)
            best = results[0][1] if results else None
            for label, similarity in results:
                entry_id = self._cat.entry_id(label)
                entry = None if entry_id is None else self._live_entry(entry_id, key.scope, oldest)
                if similarity >= loose and entry is not None:
                    candidates.append((entry, similarity))
        previous = self._previous_ask(key, vec, oldest)
        if previous is not None and previous[1] >= loose:
            candidates.append(previous)
            best = max(best or 0.0, previous[1])
        checked, blocked = screen(key.text, candidates, config, self._fits)
        if self.verifier is None:
            if checked:
                return Lookup("hit", checked[0][0].id, checked[0][1], None, "semantic", None)
            return Lookup("miss", None, best, None, None, blocked)
        checked = checked[: policy.max_candidates]
        self._counts["verified"] += len(checked)
        return choose(self.verifier, key.text, checked, policy, best, blocked)

    def _previous_ask(
        self, key: CacheKey, vector: np.ndarray, oldest: float
    ) -> tuple[Entry, float] | None:
        """The entry stored for this conversation's previous question (see scope.py)."""
        if key.parent is None or not key.parent_text:
            return None
        entry = self._entry_at(key.parent, key.parent_text, oldest)
        if entry is None:
            return None
        return entry, float(np.frombuffer(entry.vector, dtype=np.float32) @ vector)

    def _fits(self, text: str) -> bool:
        return self._sees_whole is None or self._sees_whole(text)

    def _live_entry(self, entry_id: str, scope: str, oldest: float) -> Entry | None:
        entry = self._store.get(entry_id)
        if entry is None or entry.scope != scope or entry.epoch != self._epoch:
            return None
        return entry if entry.created >= oldest else None

    def _hit(
        self,
        entry: Entry,
        similarity: float,
        tier: Literal["exact", "semantic"],
        now: float,
        found: Lookup | None,
    ) -> Lookup:
        self._counts["hits"] += 1
        self._counts[f"hits_{tier}"] += 1
        hits, _ = self._pending.get(entry.id, (0, 0.0))
        self._pending[entry.id] = (hits + 1, now)
        self._cat.touch(entry.id)
        score = None if found is None else found.score
        self._served.remember(entry.id, score)
        return Lookup("hit", entry.id, similarity, entry.response, tier, None, score)

    def _miss(self, best: float | None, blocked: str | None, score: float | None = None) -> Lookup:
        self._counts["misses"] += 1
        return Lookup("miss", None, best, None, None, blocked, score)

    # ----- writes -------------------------------------------------------------------------

    def new_entry_id(self) -> str:
        return uuid.uuid4().hex

    def store(self, entry_id: str, key: CacheKey, vector: np.ndarray, response: bytes) -> None:
        """Durable when it returns. Storing an exact duplicate replaces the older entry."""
        vec = np.asarray(vector, dtype=np.float32).reshape(self.dim)
        with self._write:
            cat = self._cat
            if entry_id in cat.labels:
                return
            previous = self._store.find_exact(key.exact)
            if previous is not None and previous in cat.labels:
                self._remove([previous])
            label = cat.next_label()
            now = time.time()
            entry = Entry(
                id=entry_id,
                label=label,
                scope=key.scope,
                exact=key.exact,
                text=key.text,
                vector=vec.tobytes(),
                response=bytes(response),
                created=now,
                epoch=self._epoch,
                last_used=now,
            )
            self._store.put(entry)
            try:
                self._index.add(
                    np.array([label]), vec[None, :], np.array([cat.scope_number(key.scope)])
                )
            except Exception:
                self._store.delete([entry])
                cat.free.append(label)
                raise
            cat.add(entry_id, label, now)
            over = len(cat) - max(1, self.config.max_entries)
            if over > 0:
                self._remove(cat.least_recent(over))
            self._dirty = True

    def _remove(self, entry_ids: list[str]) -> int:
        """Delete from the store first (the truth), then index and catalogue.
        The caller holds the write lock."""
        entries = [e for e in (self._store.get(i) for i in entry_ids) if e is not None]
        removed = self._store.delete(entries)
        for entry_id in entry_ids:
            self._pending.pop(entry_id, None)
            label = self._cat.remove(entry_id)
            if label is not None:
                self._index.mark_deleted(label)
        if entry_ids:
            self._dirty = True
        return removed

    def invalidate(
        self,
        *,
        entry_id: str | None = None,
        scope: str | None = None,
        older_than_s: float | None = None,
        everything: bool = False,
    ) -> int:
        """Remove matching entries (criteria are OR-ed); returns how many were removed."""
        with self._write:
            cat = self._cat
            if everything:
                count = len(cat)
                self._reset(self._epoch)
                return count
            doomed: set[str] = set()
            if entry_id is not None and entry_id in cat.labels:
                doomed.add(entry_id)
            if scope is not None and scope in cat.scope_ids:
                labels = self._index.labels_in_scope(cat.scope_ids[scope])
                doomed.update(i for i in map(cat.entry_id, labels) if i is not None)
            if older_than_s is not None:
                doomed.update(cat.older_than(time.time() - older_than_s))
            return self._remove(sorted(doomed))

    def bump_epoch(self) -> int:
        """Invalidate everything by moving to a new epoch; returns the new epoch."""
        with self._write:
            self._reset(self._epoch + 1)
            return self._epoch

    def _reset(self, epoch: int) -> None:
        self._store.reset(epoch)
        self._epoch = epoch
        self._index, self._cat, self._pending = VectorIndex(self.dim), Catalogue(), {}
        self._dirty = True

    # ----- persistence --------------------------------------------------------------------

    def _manifest(self) -> dict[str, object]:
        return dict(self._cat.snapshot(), generation=self._store.generation, epoch=self._epoch)

    def save(self) -> None:
        """Flush hit counters, drop expired entries and save the index if anything changed."""
        with self._write:
            pending, self._pending = self._pending, {}
            if pending:
                self._store.touch(pending)
            expired = self._cat.older_than(time.time() - self.config.ttl_days * 86400.0)
            if expired:
                self._remove(expired)
            if not self._dirty:
                return
            self._index.save(self._dir / "index", self._manifest())
            self._dirty = False
            self._last_save = time.time()

    def _save_loop(self) -> None:
        while not self._stop.wait(max(0.05, self.config.index_save_interval_s)):
            try:
                self.save()
            except Exception:
                self._counts["save_errors"] += 1

    def stats(self) -> dict[str, object]:
        return {
            "entries": len(self._cat),
            "hits": self._counts["hits"],
            "hits_exact": self._counts["hits_exact"],
            "hits_semantic": self._counts["hits_semantic"],
            "misses": self._counts["misses"],
            "blocked": {k[8:]: v for k, v in self._counts.items() if k.startswith("blocked_")},
            "index_size": self._index.live_count(),
            "index_capacity": self._index.capacity,
            "scopes": len(self._cat.scope_names),
            "opened": self.opened,
            "last_save": self._last_save,
            "save_errors": self._counts["save_errors"],
            "epoch": self._epoch,
            "store_bytes": self._store.volume(),
            "threshold": self.config.threshold,
            "verifier": None if self.verifier is None else self.verifier.model_path.name,
            "verified": self._counts["verified"],
            "feedback_wrong": self._counts["feedback_wrong"],
            "feedback_no_cache": self._counts["feedback_no_cache"],
        }

    def close(self) -> None:
        """Stop the saver and save a final index, so the next start needs no repair."""
        self._stop.set()
        self._saver.join()
        with self._write:
            self._dirty = True
        self.save()
        self._store.close()
