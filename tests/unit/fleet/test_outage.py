"""Redis down: hits stay local, writes queue (bounded, oldest dropped first) and are replayed
in order when Redis is back; the follower catches up from where it stopped."""

from __future__ import annotations

import time

from tests.redis_server import RedisServer
from tests.unit.fleet.conftest import BoxFactory
from tests.unit.fleet.test_replication import hit, store, wait_for


def test_writes_made_while_redis_is_down_reach_the_other_box_after_it_returns(
    make_box: BoxFactory, redis_server: RedisServer
) -> None:
    a, b = make_box("a"), make_box("b")
    before = store(a, "asked before the outage", 1)
    wait_for(lambda: hit(b.cache, "asked before the outage", 1) == before)
    redis_server.kill()
    try:
        began = time.monotonic()
        assert hit(b.cache, "asked before the outage", 1) == before  # served locally
        assert time.monotonic() - began < 0.05
        during = store(a, "asked during the outage", 2)
        a.cache.invalidate(entry_id=before)
        wait_for(lambda: not a.fleet.link.is_up)
        assert len(a.fleet.outbox) == 2
        assert "down" in a.fleet.stats().redis
    finally:
        redis_server.start()
    wait_for(lambda: hit(b.cache, "asked during the outage", 2) == during, 15.0)
    wait_for(lambda: hit(b.cache, "asked before the outage", 1) is None)
    stats = a.fleet.stats()
    assert stats.redis == "up" and stats.queued_writes == 0 and stats.dropped_writes == 0


def test_the_queue_is_bounded_and_drops_the_oldest_writes(
    make_box: BoxFactory, redis_server: RedisServer
) -> None:
    a, b = make_box("a", queue_max=5), make_box("b")
    wait_for(lambda: bool(b.fleet.follower and b.fleet.follower.synced))
    redis_server.kill()
    try:
        ids = [store(a, f"question {i}", i) for i in range(10)]
        assert len(a.fleet.outbox) == 5 and a.fleet.outbox.dropped == 5
    finally:
        redis_server.start()
    wait_for(lambda: hit(b.cache, "question 9", 9) == ids[9], 15.0)
    assert hit(b.cache, "question 4", 4) is None  # dropped from the queue: a's alone
    assert hit(a.cache, "question 4", 4) == ids[4]
