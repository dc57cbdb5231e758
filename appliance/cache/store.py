"""Durable cache entries in diskcache: the source of truth the index is rebuilt from.

It owns the on-disk records (response, vector, scope, text, created, hits, label, the entry's
own verifier bar), the exact-hash lookup, the log of entries flagged wrong, and what is kept
beside them: the epoch, the generation (bumped by every add or delete, so a saved index can
tell it is stale) and the identity of the encoder that made the vectors. It must not
know about similarity, TTL policy or LRU order: the facade decides what to delete.

diskcache runs SQLite in WAL mode; `synchronous=FULL` makes a returned `put` survive power
loss, which matters because the entry id may already be in the client's hands. diskcache's
own eviction is off: the entry-count bound is enforced by the facade so index and store
always agree on what exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import diskcache
import msgspec


class Entry(msgspec.Struct, array_like=True):
    id: str
    label: int
    scope: str
    exact: str
    text: str
    vector: bytes  # float32, unit length
    response: bytes
    created: float
    epoch: int
    hits: int = 0
    last_used: float = 0.0
    # The verifier probability this entry needs to be served semantically, when it is above
    # the global threshold: raised by feedback (flagged wrong, re-asked with no-cache).
    # Trailing fields with defaults keep entries written before them readable.
    bar: float = 0.0
    flags: int = 0


class Flag(msgspec.Struct):
    """One entry's feedback history, kept after the entry itself is dropped (for the TUI)."""

    entry_id: str
    text: str
    scope: str
    flags: int
    bar: float
    dropped: bool
    last: float
    reason: str


_ENTRY = "e"
_FLAG = "f"
_EXACT = "x"
_KEY_MEMO = 65536  # serialised keys kept per store (a few MB)
_EPOCH = "meta:epoch"
_GENERATION = "meta:generation"
_ENCODER = "meta:encoder"


class _KeyMemoDisk(diskcache.Disk):  # type: ignore[misc]
    """diskcache's Disk, with the serialised form of tuple keys memoised.

    Our keys are tuples, which diskcache pickles and runs through `pickletools.optimize` on
    every get: a fifth of a semantic lookup's time. The bytes are the same (so existing
    caches read as before); a hot entry's key is just not pickled again. The memo is this
    store's own and starts over when full (dict operations are atomic: readers may share it)."""

    def __init__(self, directory: str, **settings: Any) -> None:
        super().__init__(directory, **settings)
        self._keys: dict[tuple[Any, ...], tuple[Any, bool]] = {}

    def put(self, key: Any) -> tuple[Any, bool]:
        if type(key) is not tuple:
            return super().put(key)  # type: ignore[no-any-return]
        found = self._keys.get(key)
        if found is None:
            if len(self._keys) >= _KEY_MEMO:
                self._keys.clear()
            found = self._keys[key] = super().put(key)
        return found


class EntryStore:
    """One writer (the facade's lock); readers may call `get`/`find_exact` from any thread."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._cache = diskcache.Cache(
            str(directory),
            eviction_policy="none",
            size_limit=2**62,
            cull_limit=0,
            sqlite_synchronous=2,
            statistics=0,
            disk=_KeyMemoDisk,
        )
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(Entry)
        self._flag_decoder = msgspec.msgpack.Decoder(Flag)

    @property
    def epoch(self) -> int:
        return int(self._cache.get(_EPOCH, 0))

    @property
    def generation(self) -> int:
        return int(self._cache.get(_GENERATION, 0))

    @property
    def encoder(self) -> str | None:
        """The identity of the encoder that made the stored vectors (None: not recorded)."""
        found = self._cache.get(_ENCODER)
        return None if found is None else str(found)

    def set_encoder(self, identity: str) -> None:
        self._cache.set(_ENCODER, identity)

    def entry_ids(self) -> list[str]:
        return [k[1] for k in self._cache.iterkeys() if isinstance(k, tuple) and k[0] == _ENTRY]

    def get(self, entry_id: str) -> Entry | None:
        raw = self._cache.get((_ENTRY, entry_id))
        return None if raw is None else self._decoder.decode(raw)

    def find_exact(self, exact: str) -> str | None:
        found = self._cache.get((_EXACT, exact))
        return None if found is None else str(found)

    def put(self, entry: Entry) -> None:
        """Write the entry and point its exact hash at it, atomically."""
        with self._cache.transact():
            self._cache.set((_ENTRY, entry.id), self._encoder.encode(entry))
            self._cache.set((_EXACT, entry.exact), entry.id)
            self._cache.set(_GENERATION, self.generation + 1)

    def put_many(self, entries: Iterable[Entry]) -> None:
        """Bulk import in one transaction (one fsync); for migrations and benchmarks."""
        with self._cache.transact():
            count = 0
            for entry in entries:
                self._cache.set((_ENTRY, entry.id), self._encoder.encode(entry))
                self._cache.set((_EXACT, entry.exact), entry.id)
                count += 1
            self._cache.set(_GENERATION, self.generation + count)

    def delete(self, entries: Iterable[Entry]) -> int:
        """Remove entries (and their exact hash when it still points at them)."""
        removed = 0
        with self._cache.transact():
            for entry in entries:
                if self._cache.delete((_ENTRY, entry.id)):
                    removed += 1
                if self._cache.get((_EXACT, entry.exact)) == entry.id:
                    self._cache.delete((_EXACT, entry.exact))
            if removed:
                self._cache.set(_GENERATION, self.generation + 1)
        return removed

    def touch(self, updates: dict[str, tuple[int, float]]) -> None:
        """Add hit counts and set last-used times; entries deleted meanwhile are skipped."""
        with self._cache.transact():
            for entry_id, (hits, last_used) in updates.items():
                raw = self._cache.get((_ENTRY, entry_id))
                if raw is None:
                    continue
                entry = self._decoder.decode(raw)
                entry.hits += hits
                entry.last_used = max(entry.last_used, last_used)
                self._cache.set((_ENTRY, entry_id), self._encoder.encode(entry))

    def set_bar(self, entry_id: str, bar: float, flags: int) -> Entry | None:
        """Persist an entry's own bar and flag count; None if it is gone."""
        with self._cache.transact():
            raw = self._cache.get((_ENTRY, entry_id))
            if raw is None:
                return None
            entry = self._decoder.decode(raw)
            entry.bar, entry.flags = bar, flags
            self._cache.set((_ENTRY, entry_id), self._encoder.encode(entry))
            return entry

    def put_flag(self, flag: Flag) -> None:
        self._cache.set((_FLAG, flag.entry_id), self._encoder.encode(flag))

    def get_flag(self, entry_id: str) -> Flag | None:
        raw = self._cache.get((_FLAG, entry_id))
        return None if raw is None else self._flag_decoder.decode(raw)

    def flags(self) -> list[Flag]:
        """Every flag record (a short list: only entries someone flagged)."""
        found = []
        for key in self._cache.iterkeys():
            if isinstance(key, tuple) and key[0] == _FLAG:
                raw = self._cache.get(key)
                if raw is not None:
                    found.append(self._flag_decoder.decode(raw))
        return found

    def entries(self) -> Iterator[Entry]:
        """Every entry; used only to rebuild or repair the index."""
        for key in self._cache.iterkeys():
            if isinstance(key, tuple) and key[0] == _ENTRY:
                raw = self._cache.get(key)
                if raw is not None:
                    yield self._decoder.decode(raw)

    def reset(self, epoch: int) -> None:
        """Drop every entry and set the epoch; the generation keeps counting up and the
        encoder stays recorded (the next entries are made by it too)."""
        generation, encoder = self.generation, self.encoder
        with self._cache.transact():
            self._cache.clear()
            self._cache.set(_EPOCH, epoch)
            self._cache.set(_GENERATION, generation + 1)
            if encoder is not None:
                self._cache.set(_ENCODER, encoder)

    def volume(self) -> int:
        return int(self._cache.volume())

    def close(self) -> None:
        self._cache.close()
