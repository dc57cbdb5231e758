from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np

from appliance.cache.store import Entry, EntryStore


def entry(n: int, scope: str = "s", epoch: int = 0) -> Entry:
    return Entry(
        id=f"id{n}",
        label=n,
        scope=scope,
        exact=f"x{n}",
        text=f"q{n}",
        vector=np.zeros(4, np.float32).tobytes(),
        response=b"r%d" % n,
        created=100.0 + n,
        epoch=epoch,
    )


def test_entries_survive_reopening(tmp_path: Path) -> None:
    store = EntryStore(tmp_path)
    store.put(entry(1))
    store.close()
    again = EntryStore(tmp_path)
    got = again.get("id1")
    assert got is not None and got.response == b"r1" and got.label == 1
    assert again.find_exact("x1") == "id1"


def test_every_add_and_delete_moves_the_generation(tmp_path: Path) -> None:
    store = EntryStore(tmp_path)
    g0 = store.generation
    store.put(entry(1))
    store.put(entry(2))
    assert store.generation == g0 + 2
    assert store.delete([entry(1)]) == 1
    assert store.generation == g0 + 3
    assert store.delete([entry(1)]) == 0
    assert store.generation == g0 + 3
    assert store.get("id1") is None and store.find_exact("x1") is None


def test_exact_hash_is_kept_when_it_points_to_a_newer_entry(tmp_path: Path) -> None:
    store = EntryStore(tmp_path)
    old = entry(1)
    new = Entry(**{**{f: getattr(old, f) for f in old.__struct_fields__}, "id": "newer"})
    store.put(old)
    store.put(new)
    store.delete([old])
    assert store.find_exact("x1") == "newer"


def test_touch_adds_hits_and_skips_deleted_entries(tmp_path: Path) -> None:
    store = EntryStore(tmp_path)
    store.put(entry(1))
    store.touch({"id1": (3, 500.0), "gone": (1, 1.0)})
    store.touch({"id1": (2, 400.0)})
    got = store.get("id1")
    assert got is not None and got.hits == 5 and got.last_used == 500.0
    assert store.get("gone") is None


def test_reset_drops_everything_and_sets_the_epoch(tmp_path: Path) -> None:
    store = EntryStore(tmp_path)
    store.put(entry(1))
    store.put(entry(2))
    g = store.generation
    store.reset(epoch=3)
    assert store.epoch == 3 and store.generation > g
    assert list(store.entries()) == [] and store.find_exact("x2") is None


def test_entries_lists_every_stored_entry(tmp_path: Path) -> None:
    store = EntryStore(tmp_path)
    for n in range(5):
        store.put(entry(n))
    assert sorted(e.id for e in store.entries()) == [f"id{n}" for n in range(5)]


def test_entries_written_before_the_bar_field_still_decode(tmp_path: Path) -> None:
    old = msgspec.msgpack.encode(["id", 1, "s", "x", "t", b"v", b"r", 1.0, 0, 2, 3.0])
    entry = msgspec.msgpack.decode(old, type=Entry)
    assert (entry.hits, entry.bar, entry.flags) == (2, 0.0, 0)
