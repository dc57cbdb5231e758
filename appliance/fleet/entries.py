"""The shared cache in Redis: what an entry looks like there, where it lives, and the writes
that publish a store, an invalidation or a flush to every box.

Layout (prefix `P`, fleet epoch `E`):

    P:cache:epoch              the fleet's epoch; a flush of the whole cache increments it
    P:cache:E:entries          hash  entry id -> SharedEntry (msgpack)
    P:cache:E:created          zset  entry id -> created (for TTL and the size bound)
    P:cache:E:scope:<hash>     set   entry ids of one scope (invalidation by scope)
    P:cache:stream             stream of changes {k: store|inv|epoch, id, box, e, ...}, MAXLEN ~

The stream carries ids, not entries: each entry is stored once and fetched by the boxes that
read the event, and a stream of 100k events stays a few MB. A store is one Lua script, so an
entry is never published into an epoch that a flush has already ended.

It must not apply anything to a local cache (`replica.py` does) nor decide when to write
(the outbox does).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import redis
from redis.typing import EncodableT, FieldT

from appliance.cache.scope import CacheKey
from appliance.fleet.link import texts

_KEY_FIELDS = frozenset(f.name for f in dataclasses.fields(CacheKey))


class SharedEntry(msgspec.Struct, omit_defaults=True):
    """One cache entry as every box can rebuild it: the same id, key, vector and answer."""

    id: str
    key: dict[str, Any]  # CacheKey's fields by name, so a field added there travels too
    vector: bytes  # float32, unit length
    response: bytes
    created: float
    box: str
    # The identity of the encoder that made `vector` ("": a box from before it was sent): a
    # box on another encoder embeds the text again rather than compare unlike vectors.
    encoder: str = ""

    @classmethod
    def of(
        cls, entry_id: str, key: CacheKey, vector: bytes, response: bytes, box: str, encoder: str
    ) -> SharedEntry:
        return cls(entry_id, dataclasses.asdict(key), vector, response, time.time(), box, encoder)

    def cache_key(self) -> CacheKey:
        return CacheKey(**{k: v for k, v in self.key.items() if k in _KEY_FIELDS})


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SharedEntry)


def decode(blob: bytes) -> SharedEntry:
    return _decoder.decode(blob)


@dataclass(frozen=True)
class CacheLayout:
    """Key names of the shared cache (see the module docstring)."""

    prefix: str

    @property
    def epoch(self) -> str:
        return f"{self.prefix}:cache:epoch"

    @property
    def stream(self) -> str:
        return f"{self.prefix}:cache:stream"

    def entries(self, epoch: int) -> str:
        return f"{self.prefix}:cache:{epoch}:entries"

    def created(self, epoch: int) -> str:
        return f"{self.prefix}:cache:{epoch}:created"

    def scope(self, epoch: int, scope: str) -> str:
        digest = hashlib.sha256(scope.encode()).hexdigest()[:24]
        return f"{self.prefix}:cache:{epoch}:scope:{digest}"


# KEYS: epoch, entries, created, scope set, stream
# ARGV: epoch of the entry, id, blob, created, ttl_s, box, maxlen
_STORE = """
if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('EXPIRE', KEYS[4], ARGV[5])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[7], '*',
           'k', 'store', 'id', ARGV[2], 'box', ARGV[6], 'e', ARGV[1], 't', ARGV[4])
return 1
"""
_STORE_SHA = hashlib.sha1(_STORE.encode()).hexdigest()


@dataclass
class StoreOp:
    layout: CacheLayout
    entry: SharedEntry
    epoch: int
    ttl_s: float
    max_len: int

    def apply(self, r: redis.Redis) -> None:
        e, layout = self.epoch, self.layout
        keys = [
            layout.epoch,
            layout.entries(e),
            layout.created(e),
            layout.scope(e, self.entry.key["scope"]),
            layout.stream,
        ]
        args: list[str | bytes | int] = [
            e,
            self.entry.id,
            _encoder.encode(self.entry),
            repr(self.entry.created),
            max(1, int(self.ttl_s)),
            self.entry.box,
            self.max_len,
        ]
        try:  # the script by its hash: not resent with every entry
            r.evalsha(_STORE_SHA, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:  # a restarted Redis forgot it
            r.eval(_STORE, len(keys), *keys, *args)


def _current_epoch(r: redis.Redis, layout: CacheLayout) -> int:
    return int(r.get(layout.epoch) or 0)


@dataclass
class InvalidateOp:
    """Remove matching entries from the shared set and tell every box (criteria OR-ed, as in
    `SemanticCache.invalidate`); each box applies it to its own replica."""

    layout: CacheLayout
    box: str
    max_len: int
    entry_id: str | None = None
    scope: str | None = None
    older_than_s: float | None = None
    at: float = dataclasses.field(default_factory=time.time)

    def apply(self, r: redis.Redis) -> None:
        layout = self.layout
        e = _current_epoch(r, layout)
        doomed: set[str] = set()
        if self.entry_id is not None:
            doomed.add(self.entry_id)
        if self.scope is not None:
            doomed.update(texts(r.smembers(layout.scope(e, self.scope))))
        if self.older_than_s is not None:
            cutoff = self.at - self.older_than_s
            doomed.update(texts(r.zrangebyscore(layout.created(e), "-inf", f"({cutoff!r}")))
        event: dict[FieldT, EncodableT] = {"k": "inv", "box": self.box, "e": e, "t": self.at}
        if self.entry_id is not None:
            event["id"] = self.entry_id
        if self.scope is not None:
            event["scope"] = self.scope
        if self.older_than_s is not None:
            event["older"] = self.older_than_s
        pipe = r.pipeline(transaction=True)
        if doomed:
            pipe.hdel(layout.entries(e), *doomed)
            pipe.zrem(layout.created(e), *doomed)
        if self.scope is not None:
            pipe.delete(layout.scope(e, self.scope))
        pipe.xadd(layout.stream, event, maxlen=self.max_len, approximate=True)
        pipe.execute()


@dataclass
class FlushOp:
    """Everything goes: a new fleet epoch; the old epoch's entries are unlinked."""

    layout: CacheLayout
    box: str
    max_len: int
    at: float = dataclasses.field(default_factory=time.time)

    def apply(self, r: redis.Redis) -> None:
        layout = self.layout
        epoch = int(r.incr(layout.epoch))
        event: dict[FieldT, EncodableT] = {"k": "epoch", "box": self.box, "e": epoch, "t": self.at}
        r.xadd(layout.stream, event, maxlen=self.max_len, approximate=True)
        r.unlink(layout.entries(epoch - 1), layout.created(epoch - 1))


def prune(r: redis.Redis, layout: CacheLayout, ttl_s: float, max_entries: int) -> int:
    """Drop shared entries past the TTL or beyond the size bound (oldest first), a batch per
    call. Boxes drop their own copies by the same rules; nothing is streamed for this."""
    e = _current_epoch(r, layout)
    created = layout.created(e)
    expired = r.zrangebyscore(created, "-inf", time.time() - ttl_s, start=0, num=500)
    doomed = texts(expired)
    over = int(r.zcard(created)) - len(doomed) - max_entries
    if over > 0:
        doomed += texts(pair[0] for pair in r.zpopmin(created, min(over, 500)))
    if doomed:
        pipe = r.pipeline(transaction=True)
        pipe.hdel(layout.entries(e), *doomed)
        pipe.zrem(created, *doomed)
        pipe.execute()
    return len(doomed)


def scan_entries(r: redis.Redis, layout: CacheLayout, epoch: int) -> Iterator[SharedEntry]:
    """Every shared entry of `epoch`, in batches (the snapshot a joining box starts from)."""
    for _, blob in r.hscan_iter(layout.entries(epoch), count=500):
        try:
            yield decode(blob)
        except msgspec.DecodeError:
            continue  # written by a newer version we cannot read: skip, never stop the rest
