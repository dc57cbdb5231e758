"""Stored vectors follow the encoder: a cache written by one encoder build and opened with
another is embedded again from its texts, and its index is rebuilt from the new vectors.
Both encoders are the real ones (the packaged fp32 model and the int8 build)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from appliance.cache.index import SIDECAR_FILE
from appliance.cache.reembed import follow_encoder
from appliance.cache.scope import CacheKey, build_key
from appliance.cache.semantic import SemanticCache
from appliance.cache.store import EntryStore
from appliance.config import CacheConfig
from appliance.embedding.encoder import Encoder

QUIET = CacheConfig(index_save_interval_s=3600)
TEXTS = ["How do I reset my password?", "What is the capital of France?", "Order a pizza"]


def key(text: str) -> CacheKey:
    return build_key("ns", "m", [{"role": "user", "content": text}], {"temperature": 0.0})


@pytest.fixture(scope="module")
def fp32() -> Encoder:
    return Encoder(threads=2, precision="fp32")


def fill(directory: Path, source: Encoder) -> list[str]:
    cache = SemanticCache(directory, QUIET, vectors=source)
    ids = []
    for text, vector in zip(TEXTS, source.encode(TEXTS), strict=True):
        ids.append(cache.new_entry_id())
        cache.store(ids[-1], key(text), vector, f"answer to {text}".encode())
    cache.save()
    cache.close()
    return ids


def stored_vectors(cache: SemanticCache, ids: list[str]) -> np.ndarray:
    entries = [cache._store.get(i) for i in ids]
    return np.stack([np.frombuffer(e.vector, dtype=np.float32) for e in entries if e])


def test_a_cache_opened_with_another_encoder_is_embedded_again(
    tmp_path: Path, fp32: Encoder, encoder: Encoder
) -> None:
    assert encoder.precision == "int8" and encoder.identity != fp32.identity
    ids = fill(tmp_path, fp32)
    cache = SemanticCache(tmp_path, QUIET, vectors=encoder)
    try:
        assert cache.reembedded == len(TEXTS)
        assert cache.opened == "rebuilt"  # the saved index held the old vectors
        assert np.allclose(stored_vectors(cache, ids), encoder.encode(TEXTS), atol=1e-6)
        assert cache._store.encoder == encoder.identity
        for entry_id, text in zip(ids, TEXTS, strict=True):
            found = cache.lookup_semantic(key(text), encoder.encode([text])[0])
            assert (found.outcome, found.entry_id) == ("hit", entry_id)
            assert found.similarity == pytest.approx(1.0, abs=1e-5)
        cache.save()
    finally:
        cache.close()
    again = SemanticCache(tmp_path, QUIET, vectors=encoder)
    try:
        assert (again.reembedded, again.opened) == (0, "loaded")
    finally:
        again.close()


def test_a_cache_from_before_the_identity_was_kept_is_embedded_again(
    tmp_path: Path, fp32: Encoder, encoder: Encoder
) -> None:
    old = SemanticCache(tmp_path, QUIET)  # no encoder given: nothing recorded, as before
    entry_id = old.new_entry_id()
    old.store(entry_id, key(TEXTS[0]), fp32.encode(TEXTS[:1])[0], b"answer")
    old.close()
    cache = SemanticCache(tmp_path, QUIET, vectors=encoder)
    try:
        assert cache.reembedded == 1
        assert np.allclose(stored_vectors(cache, [entry_id]), encoder.encode(TEXTS[:1]))
    finally:
        cache.close()


def test_a_flush_keeps_the_encoder_recorded(tmp_path: Path, encoder: Encoder) -> None:
    fill(tmp_path, encoder)
    cache = SemanticCache(tmp_path, QUIET, vectors=encoder)
    try:
        cache.bump_epoch()
        assert cache._store.encoder == encoder.identity
    finally:
        cache.close()


def test_a_crash_before_the_identity_is_written_redoes_the_work(
    tmp_path: Path, fp32: Encoder, encoder: Encoder
) -> None:
    """As after a kill -9 mid-way: vectors rewritten, index dropped, identity not yet
    written. The next start embeds again and rebuilds; nothing is compared across encoders."""
    ids = fill(tmp_path, fp32)
    store = EntryStore(tmp_path / "entries")
    assert follow_encoder(store, encoder, tmp_path / "index") == len(TEXTS)
    store.set_encoder(fp32.identity)  # as if the process died before the last step
    store.close()
    assert not (tmp_path / "index" / SIDECAR_FILE).exists()
    again = SemanticCache(tmp_path, QUIET, vectors=encoder)
    try:
        assert again.reembedded == len(TEXTS) and again.opened == "rebuilt"
        assert np.allclose(stored_vectors(again, ids), encoder.encode(TEXTS), atol=1e-6)
    finally:
        again.close()
