"""The shared cache: a store on one box is applied to the others' replicas within
milliseconds; invalidations and flushes travel the same way; a box that was away catches
up from the stream's tail, or from a snapshot when the stream has moved on without it."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from appliance.cache.scope import CacheKey, build_key
from appliance.embedding.encoder import Encoder
from appliance.fleet.entries import SharedEntry, decode
from appliance.fleet.replica import ReplicatedCache
from tests.redis_server import RedisServer
from tests.unit.fleet.conftest import Box, BoxFactory, unit


def key(text: str, ns: str = "ns") -> CacheKey:
    return build_key(ns, "m", [{"role": "user", "content": text}], {"temperature": 0.0})


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> float:
    """Seconds until `condition` held; fails after `timeout_s`."""
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < timeout_s, "condition not met in time"
        time.sleep(0.005)
    return time.monotonic() - began


def synced(box: Box) -> bool:
    return box.fleet.follower is not None and box.fleet.follower.synced


def store(box: Box, text: str, seed: int, ns: str = "ns") -> str:
    entry_id = box.cache.new_entry_id()
    box.cache.store(entry_id, key(text, ns), unit(seed), f"answer to {text}".encode())
    return entry_id


def hit(cache: ReplicatedCache, text: str, seed: int, ns: str = "ns") -> str | None:
    found = cache.lookup(key(text, ns), unit(seed))
    return found.entry_id if found.outcome == "hit" else None


def test_an_entry_stored_on_one_box_is_a_hit_on_the_other_within_a_second(
    make_box: BoxFactory,
) -> None:
    a, b = make_box("a"), make_box("b")
    wait_for(lambda: synced(a) and synced(b))  # else b finds it in its start-up snapshot
    entry_id = store(a, "what is the capital of France?", 1)
    took = wait_for(lambda: hit(b.cache, "what is the capital of France?", 1) is not None)
    assert took < 1.0
    assert hit(b.cache, "what is the capital of France?", 1) == entry_id  # the same entry
    found = b.cache.lookup_semantic(key("what is the capital of France?"), unit(1))
    assert found.response == b"answer to what is the capital of France?"
    assert b.fleet.follower is not None and b.fleet.follower.applied == 1
    p50, _ = b.fleet.follower.lag_ms()
    assert p50 is not None and p50 < 1000
    assert a.fleet.follower is not None and a.fleet.follower.applied == 0  # its own: skipped


def test_invalidations_by_id_and_by_scope_travel(make_box: BoxFactory) -> None:
    a, b = make_box("a"), make_box("b")
    first = store(a, "first question", 1)
    store(a, "second question", 2, ns="other")
    store(a, "third question", 3, ns="other")
    wait_for(lambda: hit(b.cache, "third question", 3, ns="other") is not None)
    assert b.cache.invalidate(entry_id=first) == 1  # invalidated on b, published
    wait_for(lambda: hit(a.cache, "first question", 1) is None)
    a.cache.invalidate(scope=key("second question", ns="other").scope)
    wait_for(lambda: hit(b.cache, "second question", 2, ns="other") is None)
    assert hit(b.cache, "third question", 3, ns="other") is None  # same scope
    client = a.fleet.link.slow
    assert client.hlen(a.fleet.layout.entries(0)) == 0  # gone from the shared set too


def test_a_flush_travels_and_moves_the_fleet_epoch(make_box: BoxFactory) -> None:
    a, b = make_box("a"), make_box("b")
    store(a, "question", 1)
    wait_for(lambda: hit(b.cache, "question", 1) is not None)
    b.cache.bump_epoch()
    wait_for(lambda: hit(a.cache, "question", 1) is None)
    wait_for(lambda: a.fleet.publisher.epoch == 1 and b.fleet.publisher.epoch == 1)
    store(a, "after the flush", 2)
    wait_for(lambda: hit(b.cache, "after the flush", 2) is not None)


def test_a_box_that_was_away_replays_the_tail_it_missed(make_box: BoxFactory) -> None:
    a, b = make_box("a"), make_box("b")
    kept = store(a, "kept", 1)
    doomed = store(a, "doomed", 2)
    wait_for(lambda: hit(b.cache, "doomed", 2) is not None)
    b.close()
    late = store(a, "stored while b was away", 3)
    a.cache.invalidate(entry_id=doomed)
    a.fleet.writer.flush(2.0)
    b = make_box("b")
    wait_for(lambda: hit(b.cache, "stored while b was away", 3) == late)
    wait_for(lambda: hit(b.cache, "doomed", 2) is None)  # the invalidation, replayed too
    assert b.fleet.follower is not None and b.fleet.follower.resumes == 1
    assert b.fleet.follower.snapshots == 0
    assert hit(b.cache, "kept", 1) == kept


def test_a_box_away_longer_than_the_stream_takes_a_snapshot(make_box: BoxFactory) -> None:
    a, b = make_box("a", stream_max_len=100), make_box("b", stream_max_len=100)
    wait_for(lambda: synced(b))
    b.close()
    ids = [store(a, f"question number {i}", i) for i in range(400)]
    a.fleet.writer.flush(10.0)
    b = make_box("b", stream_max_len=100)
    wait_for(lambda: synced(b), 30.0)
    assert b.fleet.follower is not None and b.fleet.follower.snapshots == 1
    assert hit(b.cache, "question number 0", 0) == ids[0]
    assert hit(b.cache, "question number 399", 399) == ids[399]


def test_a_redis_that_lost_its_data_does_not_flush_the_boxes(
    make_box: BoxFactory, redis_server: RedisServer
) -> None:
    a, b = make_box("a"), make_box("b")
    a.cache.bump_epoch()
    wait_for(lambda: b.fleet.publisher.epoch == 1)
    entry_id = store(a, "question", 1)
    wait_for(lambda: hit(b.cache, "question", 1) is not None)
    b.close()
    client = redis_server.client()
    client.flushall()  # as a Redis restarted without persistence
    client.close()
    b = make_box("b")
    wait_for(lambda: synced(b))
    assert hit(b.cache, "question", 1) == entry_id
    assert int(b.fleet.link.slow.get(b.fleet.layout.epoch) or 0) == 1


def test_an_entry_of_another_size_is_skipped_by_a_box_that_cannot_embed(
    make_box: BoxFactory,
) -> None:
    a = make_box("a")
    other = SharedEntry.of("e1", key("question"), unit(1)[:100].tobytes(), b"x", "old-box", "")
    assert not a.cache.apply_entry(other)
    assert hit(a.cache, "question", 1) is None


def test_an_entry_made_by_another_encoder_is_embedded_again_here(make_box: BoxFactory) -> None:
    """A rolling upgrade: box "old" publishes fp32 vectors, box "new" runs the int8 build.
    "new" stores the entry under its own vector of the text; "old" keeps the vector as sent
    by a box on its own encoder. Published entries name the encoder that made them."""
    fp32, int8 = Encoder(threads=2, precision="fp32"), Encoder(threads=2)
    old, new = make_box("old", vectors=fp32), make_box("new", vectors=int8)
    text = "what is the capital of France?"
    entry_id = old.cache.new_entry_id()
    old.cache.store(entry_id, key(text), fp32.encode([text])[0], b"Paris")
    wait_for(lambda: new.cache._store.get(entry_id) is not None)
    shared = old.fleet.link.slow.hget(old.fleet.layout.entries(0), entry_id)
    assert decode(shared).encoder == fp32.identity
    got = new.cache._store.get(entry_id)
    assert got is not None
    assert np.allclose(np.frombuffer(got.vector, dtype=np.float32), int8.encode([text])[0])
    found = new.cache.lookup_semantic(key(text), int8.encode([text])[0])
    assert (found.outcome, found.entry_id) == ("hit", entry_id)
    back = SharedEntry.of("e2", key("order a pizza"), unit(3).tobytes(), b"x", "new", fp32.identity)
    assert old.cache.apply_entry(back)  # made by its own encoder: the vector is used as sent
    kept = old.cache._store.get("e2")
    assert kept is not None and np.array_equal(np.frombuffer(kept.vector, np.float32), unit(3))
