"""Open the saved index at start-up, or repair or rebuild it from the store.

It owns the decision "trust the saved index, patch it, or start over", and nothing at run
time. The store is the truth: a saved index whose manifest names the store's current
generation and epoch is used as is (the fast path: one file load, no store scan); otherwise
every stored entry is read once and the index is patched to match, which also covers a
missing or damaged index file (patching an empty index is a rebuild).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np

from appliance.cache.catalogue import Catalogue
from appliance.cache.index import VectorIndex
from appliance.cache.store import Entry, EntryStore

Opened = Literal["loaded", "repaired", "rebuilt"]
# (entries indexed so far, entries to index): called after each batch of a repair/rebuild.
Progress = Callable[[int, int], None]
_BATCH = 4096


def open_index(
    directory: Path, store: EntryStore, dim: int, progress: Progress | None = None
) -> tuple[VectorIndex, Catalogue, Opened]:
    try:
        index, meta = VectorIndex.load(directory, dim)
        catalogue = Catalogue.from_snapshot(meta)
    except ValueError:
        index, catalogue = VectorIndex(dim), Catalogue()
        _repair(index, catalogue, store, progress)
        return index, catalogue, "rebuilt"
    if meta.get("generation") == store.generation and meta.get("epoch") == store.epoch:
        return index, catalogue, "loaded"
    _repair(index, catalogue, store, progress)
    return index, catalogue, "repaired"


def _repair(
    index: VectorIndex, catalogue: Catalogue, store: EntryStore, progress: Progress | None
) -> None:
    epoch = store.epoch
    truth: dict[int, Entry] = {}
    stale: list[Entry] = []
    for entry in store.entries():
        (truth.__setitem__(entry.label, entry) if entry.epoch == epoch else stale.append(entry))
    if stale:
        store.delete(stale)
    for label, entry_id in enumerate(list(catalogue.ids)):
        if entry_id is not None and (label not in truth or truth[label].id != entry_id):
            catalogue.remove(entry_id)
            index.mark_deleted(label)
    for label in index.labels() - set(truth):
        index.mark_deleted(label)
    missing = sorted(
        (e for label, e in truth.items() if catalogue.entry_id(label) != e.id),
        key=lambda e: e.last_used,
    )
    for start in range(0, len(missing), _BATCH):
        batch = missing[start : start + _BATCH]
        for entry in batch:
            catalogue.add(entry.id, entry.label, entry.created)
        index.add(
            np.array([e.label for e in batch], dtype=np.int64),
            np.stack([np.frombuffer(e.vector, dtype=np.float32) for e in batch]),
            np.array([catalogue.scope_number(e.scope) for e in batch], dtype=np.int32),
            threads=2,
        )
        if progress is not None:
            progress(start + len(batch), len(missing))
    catalogue.recompute_free()
