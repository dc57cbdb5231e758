"""Stored vectors follow the encoder: entries made by another encoder are re-embedded.

It owns the start-up step "the store's vectors came from encoder A, this process runs B":
every entry's vector is made again from its stored text, the saved index is dropped so it is
rebuilt from the new vectors, and only then is B recorded. It must not decide which encoder
runs (`embedding/encoder.py`) nor run at request time.

Why: two encoders' vectors of one text differ (int8 vs fp32: cosine 0.97 median, 0.83 at
worst), so comparing a new question's vector with an old entry's would put every threshold
off its calibration. The order makes a crash at any point safe: until the identity is
written the next start re-embeds again, and the index is gone before it is written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from appliance.cache.index import SIDECAR_FILE
from appliance.cache.store import EntryStore

_BATCH = 256


class VectorSource(Protocol):
    """What the cache needs of the encoder (`embedding.encoder.Encoder` is one)."""

    @property
    def identity(self) -> str: ...

    def encode(self, texts: list[str]) -> np.ndarray: ...


def follow_encoder(
    store: EntryStore,
    source: VectorSource,
    index_dir: Path,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Re-embed what another (or an unrecorded) encoder made; returns the entries redone."""
    identity = source.identity
    if store.encoder == identity:
        return 0
    ids = store.entry_ids()
    for start in range(0, len(ids), _BATCH):
        entries = [e for e in map(store.get, ids[start : start + _BATCH]) if e is not None]
        if entries:
            vectors = source.encode([e.text for e in entries])
            for entry, vector in zip(entries, vectors, strict=True):
                entry.vector = np.asarray(vector, dtype=np.float32).tobytes()
            store.put_many(entries)
        if progress is not None:
            progress(min(start + _BATCH, len(ids)), len(ids))
    if ids:
        (index_dir / SIDECAR_FILE).unlink(missing_ok=True)
    store.set_encoder(identity)
    return len(ids)
