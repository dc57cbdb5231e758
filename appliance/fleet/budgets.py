"""Budgets held across every box: the `BudgetStore` operations as atomic Redis scripts, with
this box's `BudgetTracker` as the local view that decides while Redis is unreachable.

Layout (prefix `P`, month `M` = "YYYY-MM" of the boxes' local calendar):

    P:budget:M:boxes           set   boxes that spent this month
    P:budget:M:box:<box>       hash  client id -> this box's month-to-date spend (USD)
    P:budget:M:holds:<client>  hash  hold id -> USD held
    P:budget:M:hexp:<client>   zset  hold id -> expiry (Redis time)

A hold is one Lua script: drop expired holds, sum the boxes' spend and the open holds, refuse
once they reach the budget, else add the hold. Redis runs scripts one at a time, so two boxes
can never both see "one request left": the fleet overshoots by at most one request's worst
case, as one box does. Holds expire after `hold_ttl_s`, so a box that crashes mid-request
does not keep its holds forever.

Each box's spend in Redis is an absolute value (its own ledger's month total, written after
every settle and again after every outage), never an increment: a replayed write cannot
count a request twice, and the box's SQLite ledger stays the one record of what it spent.

While Redis is down or slow (one `request_timeout_s` on the first failed call, then not
tried until it answers a background call again), a hold is decided locally against this
box's own spend plus the other boxes' spend as last seen; the other boxes' new spend and
holds are not seen until Redis is back (docs/fleet.md: the limits).
"""

from __future__ import annotations

import threading
import time
import uuid
import weakref
from dataclasses import dataclass

import redis

from appliance.fleet.link import RedisLink, RedisTrouble, texts
from appliance.fleet.outbox import Outbox
from appliance.ledger.aggregates import month_bounds
from appliance.ledger.budgets import Budgeted, BudgetTracker, Hold
from appliance.ledger.db import Ledger

_KEEP_S = 62 * 86_400  # a month's keys outlive the month, for the report

# KEYS: boxes set, holds hash, hold expiry zset
# ARGV: client, hold id ('' = only check), usd, budget, ttl_s, box hash prefix, keep_s
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, id in ipairs(stale) do
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
end
local spent = 0
for _, box in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  spent = spent + tonumber(redis.call('HGET', ARGV[6] .. box, ARGV[1]) or '0')
end
local held = 0
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do held = held + tonumber(v) end
if spent + held >= tonumber(ARGV[4]) then return {0, tostring(spent), tostring(held)} end
if ARGV[2] == '' then return {1, tostring(spent), tostring(held)} end
redis.call('HINCRBYFLOAT', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[7])
redis.call('EXPIRE', KEYS[3], ARGV[7])
return {1, tostring(spent), tostring(held + tonumber(ARGV[3]))}
"""

# KEYS: holds hash and expiry zset (the hold's month), box hash, boxes set (this month)
# ARGV: hold id ('' = none), client, this box's total ('' = unchanged), box, keep_s
_SETTLE = """
if ARGV[1] ~= '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
  redis.call('SADD', KEYS[4], ARGV[4])
  redis.call('EXPIRE', KEYS[3], ARGV[5])
  redis.call('EXPIRE', KEYS[4], ARGV[5])
end
return 1
"""


def month_key(when: float) -> str:
    return time.strftime("%Y-%m", time.localtime(when))


@dataclass(frozen=True)
class BudgetLayout:
    prefix: str

    def boxes(self, month: str) -> str:
        return f"{self.prefix}:budget:{month}:boxes"

    def box(self, month: str, box: str) -> str:
        return f"{self.prefix}:budget:{month}:box:{box}"

    def holds(self, month: str, client_id: str) -> str:
        return f"{self.prefix}:budget:{month}:holds:{client_id}"

    def expiry(self, month: str, client_id: str) -> str:
        return f"{self.prefix}:budget:{month}:hexp:{client_id}"


@dataclass(frozen=True)
class _Reduced:
    """A client whose budget is what the other boxes (as last seen) have left to it."""

    id: str
    budget_usd_month: float | None


@dataclass
class _Split:
    """Where one request's hold lives: in Redis (`remote`, under `hold_id`) and/or, for what
    was held while Redis was down, in the local tracker (`local`)."""

    owner: weakref.ref[Hold]
    hold_id: str
    month: str
    local: Hold
    remote: float = 0.0


@dataclass
class SpendOp:
    """Release a hold in Redis and/or write this box's current total for a client. The
    total is read when the write is made, not when it was queued, so a replay after an
    outage writes today's figure, never an older one."""

    budgets: FleetBudgets
    month: str
    client_id: str
    hold: tuple[str, str] | None = None  # (hold's month, hold id)

    def apply(self, r: redis.Redis) -> None:
        self.budgets.write_spend(r, self)


class FleetBudgets(BudgetTracker):
    """See the module docstring. A `BudgetTracker` (its counters are this box's own spend
    and its local holds), so it drops in wherever the tracker is used."""

    def __init__(
        self,
        ledger: Ledger | None,
        link: RedisLink,
        outbox: Outbox,
        box: str,
        hold_ttl_s: float,
    ) -> None:
        super().__init__(ledger)
        self._link = link
        self._outbox = outbox
        self._box = box
        self._ttl_s = hold_ttl_s
        self._layout = BudgetLayout(link.prefix)
        self._hold_fast = link.fast.register_script(_HOLD)
        self._settle = link.slow.register_script(_SETTLE)
        self._splits: dict[int, _Split] = {}
        self._publish = threading.Lock()
        self._others: dict[str, float] = {}  # the other boxes' spend this month, last seen
        self._others_month = ""
        # holds_fleet / refused_fleet / holds_local / refused_local, for /admin/stats.
        self.counts: dict[str, int] = {}

    # ----- the BudgetStore operations -----------------------------------------------------

    def hold(self, client: Budgeted, held: Hold, usd: float) -> bool:
        budget = client.budget_usd_month
        if budget is None:
            return super().hold(client, held, usd)  # nothing to enforce across boxes
        split = self._split_for(held)
        if self._link.usable():
            try:
                granted, spent = self._run_hold(client.id, split.hold_id, usd, budget, split)
                self._link.ok()
            except RedisTrouble as exc:
                self._link.failed(exc)
            else:
                self._count("holds_fleet" if granted else "refused_fleet")
                if granted:
                    split.remote += usd
                    held.usd += usd
                    held.month_start = month_bounds(time.time())[0]
                self._seen_fleet_spend(client.id, spent)
                return granted
        local = self._reduced(client)
        before = split.local.usd
        granted = super().hold(local, split.local, usd)
        self._count("holds_local" if granted else "refused_local")
        if granted:
            held.usd += split.local.usd - before
            held.month_start = split.local.month_start
        return granted

    def settle(self, held: Hold, usd: float) -> None:
        split = self._take_split(held)
        with self._publish:
            if split is None:
                super().settle(held, usd)
            else:
                super().settle(split.local, usd)
                held.usd = 0.0
            release = (split.month, split.hold_id) if split is not None and split.remote else None
            self._outbox.put(SpendOp(self, self._month(), held.client_id, release))

    def add(self, client_id: str, usd: float) -> None:
        with self._publish:
            super().add(client_id, usd)
            self._outbox.put(SpendOp(self, self._month(), client_id))

    def spent(self, client_id: str) -> float:
        """The fleet's month-to-date spend for this client (this box's exactly, the others'
        as last read from Redis)."""
        return super().spent(client_id) + self._others_now().get(client_id, 0.0)

    def is_exhausted(self, client: Budgeted) -> bool:
        budget = client.budget_usd_month
        if budget is None:
            return False
        if self._link.usable():
            try:
                granted, spent = self._run_hold(client.id, "", 0.0, budget, None)
                self._link.ok()
            except RedisTrouble as exc:
                self._link.failed(exc)
            else:
                self._seen_fleet_spend(client.id, spent)
                return not granted
        return super().is_exhausted(self._reduced(client))

    def remaining(self, client: Budgeted) -> float | None:
        return super().remaining(self._reduced(client))

    def snapshot(self) -> dict[str, float]:
        merged = super().snapshot()
        for client_id, usd in self._others_now().items():
            merged[client_id] = merged.get(client_id, 0.0) + usd
        return merged

    # ----- Redis --------------------------------------------------------------------------

    def _run_hold(
        self, client_id: str, hold_id: str, usd: float, budget: float, split: _Split | None
    ) -> tuple[bool, float]:
        month = split.month if split is not None else self._month()
        layout = self._layout
        keys = [
            layout.boxes(month),
            layout.holds(month, client_id),
            layout.expiry(month, client_id),
        ]
        prefix = layout.box(month, "")
        args: list[str | int] = [
            client_id,
            hold_id,
            repr(usd),
            repr(budget),
            repr(self._ttl_s),
            prefix,
            _KEEP_S,
        ]
        granted, spent, _held = self._hold_fast(keys=keys, args=args)
        return bool(int(granted)), float(spent)

    def write_spend(self, r: redis.Redis, op: SpendOp) -> None:
        """Apply a `SpendOp` (on the writer thread)."""
        layout = self._layout
        hold_month, hold_id = op.hold if op.hold is not None else (op.month, "")
        total = self.own_total(op.client_id, op.month)
        keys = [
            layout.holds(hold_month, op.client_id),
            layout.expiry(hold_month, op.client_id),
            layout.box(op.month, self._box),
            layout.boxes(op.month),
        ]
        args: list[str | int] = [
            hold_id,
            op.client_id,
            "" if total is None else repr(total),
            self._box,
            _KEEP_S,
        ]
        self._settle(keys=keys, args=args, client=r)

    def own_total(self, client_id: str, month: str) -> float | None:
        """This box's spend for `month`, or None once that month is over here."""
        if month != self._month():
            return None
        return BudgetTracker.spent(self, client_id)

    def resend(self, r: redis.Redis) -> None:
        """Write this box's whole month (after start and after every outage): whatever was
        queued and dropped meanwhile, Redis now holds exactly what the local ledger says."""
        month = self._month()
        with self._publish:
            own = BudgetTracker.snapshot(self)
        key = self._layout.box(month, self._box)
        pipe = r.pipeline(transaction=True)
        pipe.delete(key)
        if own:
            pipe.hset(key, mapping={k: repr(v) for k, v in own.items()})
            pipe.expire(key, _KEEP_S)
        pipe.sadd(self._layout.boxes(month), self._box)
        pipe.expire(self._layout.boxes(month), _KEEP_S)
        pipe.execute()

    def refresh(self, r: redis.Redis) -> None:
        """Read the other boxes' spend (periodically, on the writer thread)."""
        month = self._month()
        boxes = sorted(texts(r.smembers(self._layout.boxes(month))))
        others = [b for b in boxes if b != self._box]
        pipe = r.pipeline(transaction=False)
        for box in others:
            pipe.hgetall(self._layout.box(month, box))
        totals: dict[str, float] = {}
        for values in pipe.execute() if others else []:
            for client_id, usd in values.items():
                name = client_id.decode()
                totals[name] = totals.get(name, 0.0) + float(usd)
        self._others, self._others_month = totals, month

    # ----- bookkeeping --------------------------------------------------------------------

    def _month(self) -> str:
        return month_key(time.time())

    def _others_now(self) -> dict[str, float]:
        return self._others if self._others_month == self._month() else {}

    def _seen_fleet_spend(self, client_id: str, fleet_spent: float) -> None:
        """A hold read the fleet's spend for this client: remember the others' part."""
        own = BudgetTracker.spent(self, client_id)
        if self._others_month == self._month():
            self._others[client_id] = max(0.0, fleet_spent - own)

    def _reduced(self, client: Budgeted) -> Budgeted:
        budget = client.budget_usd_month
        if budget is None:
            return client
        return _Reduced(client.id, budget - self._others_now().get(client.id, 0.0))

    def _split_for(self, held: Hold) -> _Split:
        split = self._splits.get(id(held))
        if split is None or split.owner() is not held or split.month != self._month():
            if len(self._splits) > 4096:  # holds whose requests never settled (a bug, a crash)
                self._splits = {k: s for k, s in self._splits.items() if s.owner() is not None}
            split = _Split(weakref.ref(held), uuid.uuid4().hex, self._month(), Hold(held.client_id))
            self._splits[id(held)] = split
        return split

    def _take_split(self, held: Hold) -> _Split | None:
        split = self._splits.pop(id(held), None)
        return split if split is not None and split.owner() is held else None

    def _count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1
