"""The store's key memo must not change a byte on disk: caches written before it read the same."""

from __future__ import annotations

from pathlib import Path

import diskcache

from appliance.cache.store import EntryStore, _KeyMemoDisk


def test_memoised_keys_serialise_as_diskcache_does(tmp_path: Path) -> None:
    plain, memo = diskcache.Disk(str(tmp_path)), _KeyMemoDisk(str(tmp_path))
    for key in [("e", "9f2c4e1a7b3d5f60"), ("x", "a" * 64), ("f", "é-ü"), "meta:epoch", 7]:
        assert memo.put(key) == plain.put(key)
        assert memo.put(key) == plain.put(key)  # and again, from the memo


def test_a_cache_written_without_the_memo_reads_with_it(tmp_path: Path) -> None:
    with diskcache.Cache(str(tmp_path)) as old:
        old.set(("x", "hash-1"), "entry-1")
    store = EntryStore(tmp_path)
    assert store.find_exact("hash-1") == "entry-1"
