from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from appliance.cache.index import INDEX_FILE, VectorIndex


def unit(rows: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_nearest_neighbour_comes_first_with_cosine_similarity() -> None:
    vectors = unit(200)
    index = VectorIndex(16, capacity=16)  # forces several resizes
    index.add(np.arange(200), vectors, np.zeros(200, dtype=np.int32))
    label, similarity = index.search(vectors[17], k=1, scope=0)[0]
    assert label == 17 and similarity == pytest.approx(1.0, abs=1e-5)
    assert index.live_count() == 200 and index.capacity >= 200


def test_search_only_returns_the_requested_scope_even_when_crowded() -> None:
    base = unit(1)[0]
    noise = unit(300, seed=1) * 0.05
    crowd = base + noise
    crowd /= np.linalg.norm(crowd, axis=1, keepdims=True)
    index = VectorIndex(16)
    index.add(np.arange(300), crowd, np.zeros(300, dtype=np.int32))  # scope 0 crowds the top
    far = unit(1, seed=5)
    index.add(np.array([300]), far, np.array([1], dtype=np.int32))
    results = index.search(base, k=4, scope=1)
    assert [label for label, _ in results] == [300]
    assert index.search(base, k=4, scope=2) == []


def test_crowded_scope_skips_the_filtered_search_when_nothing_is_close() -> None:
    crowd = unit(300, seed=1)
    index = VectorIndex(16)
    index.add(np.arange(300), crowd, np.zeros(300, dtype=np.int32))
    index.add(np.array([300]), unit(1, seed=5), np.array([1], dtype=np.int32))
    query = unit(1, seed=11)[0]
    # Nothing anywhere is 0.99 close, so scope 1 cannot hold a hit: no filtered walk needed.
    assert index.search(query, k=4, scope=1, min_similarity=0.99) == []
    assert [label for label, _ in index.search(query, k=4, scope=1)] == [300]


def test_deleted_labels_are_not_returned_and_can_be_reused() -> None:
    vectors = unit(10)
    index = VectorIndex(16)
    index.add(np.arange(10), vectors, np.zeros(10, dtype=np.int32))
    assert index.mark_deleted(3)
    assert not index.mark_deleted(3)
    assert all(label != 3 for label, _ in index.search(vectors[3], k=5, scope=0))
    replacement = unit(1, seed=9)
    index.add(np.array([3]), replacement, np.array([0], dtype=np.int32))
    assert index.search(replacement[0], k=1, scope=0)[0][0] == 3
    assert index.live_count() == 10


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    vectors = unit(50)
    index = VectorIndex(16)
    index.add(np.arange(50), vectors, np.arange(50, dtype=np.int32) % 3)
    index.mark_deleted(7)
    index.save(tmp_path, {"generation": 5})
    loaded, meta = VectorIndex.load(tmp_path, 16)
    assert meta["generation"] == 5
    assert loaded.live_count() == 49
    assert loaded.search(vectors[8], k=1, scope=8 % 3)[0][0] == 8
    assert loaded.labels_in_scope(1) == [i for i in range(50) if i % 3 == 1 and i != 7]
    assert not list(tmp_path.glob("*.tmp"))


def test_missing_or_damaged_index_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        VectorIndex.load(tmp_path, 16)
    index = VectorIndex(16)
    index.add(np.arange(5), unit(5), np.zeros(5, dtype=np.int32))
    index.save(tmp_path, {})
    path = tmp_path / INDEX_FILE
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError):
        VectorIndex.load(tmp_path, 16)
    with pytest.raises(ValueError):
        VectorIndex.load(tmp_path, 32)


def test_large_crowded_scope_still_finds_its_nearest_row() -> None:
    """Past the exact-scan size a crowded scope goes through the filtered graph search."""
    base = unit(1)[0]
    crowd = base + unit(300, seed=1) * 0.05
    crowd /= np.linalg.norm(crowd, axis=1, keepdims=True)
    index = VectorIndex(16)
    index.add(np.arange(300), crowd, np.zeros(300, dtype=np.int32))
    members = unit(5000, seed=7)
    nearest = int(np.argmax(members @ base))
    index.add(np.arange(300, 5300), members, np.ones(5000, dtype=np.int32))
    results = index.search(base, k=1, scope=1)
    assert results[0][0] == 300 + nearest
