"""The vectors of texts replayed before, kept on disk, so the next replay of the same log
(another threshold, another tier preset, another router) does not embed it again.

It owns that memo: one diskcache directory, keyed by the encoder's identity and the text's
hash, holding float32 vectors. It must not know about logs, the cache or the router, and is
never read by the daemon: the live cache keeps its own vectors.

Why: a replay is a what-if tool, run again and again on one log, and on a CPU box embedding
is nearly all of its time (4,265 distinct texts: 36 s of 41 s). A vector depends only on the
text and the encoder, so the key holds both: a new model, tokenizer or window never reads an
old vector. The memo holds prompt-derived data, so its directory is private (0700), like the
state dir, and `--no-vector-cache` leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import diskcache
import numpy as np

from appliance.embedding.quantized import cache_home

# Enough for ~300,000 distinct prompts (1.5 KB each with the key); least recently stored go.
SIZE_LIMIT = 512 * 1024 * 1024


def default_directory() -> Path:
    """`$XDG_CACHE_HOME/appliance/replay-vectors`, or `~/.cache/...` without it."""
    return cache_home() / "replay-vectors"


class VectorMemo:
    def __init__(self, directory: Path, identity: str, dim: int) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)
        self.directory = directory
        self._prefix = identity.encode()
        self._dim = dim
        self._cache = diskcache.Cache(
            str(directory), size_limit=SIZE_LIMIT, eviction_policy="least-recently-stored"
        )

    def _key(self, text: str) -> str:
        return hashlib.sha256(self._prefix + b"\x00" + text.encode()).hexdigest()

    def recall(self, texts: Sequence[str]) -> dict[int, np.ndarray]:
        """The remembered vectors, by position in `texts`."""
        found: dict[int, np.ndarray] = {}
        for i, text in enumerate(texts):
            raw = self._cache.get(self._key(text))
            if isinstance(raw, bytes) and len(raw) == 4 * self._dim:
                found[i] = np.frombuffer(raw, dtype=np.float32)
        return found

    def remember(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        with self._cache.transact():
            for text, vector in zip(texts, vectors, strict=True):
                self._cache.set(self._key(text), np.asarray(vector, dtype=np.float32).tobytes())

    def close(self) -> None:
        self._cache.close()
