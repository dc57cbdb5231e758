"""Several boxes acting as one through Redis (`[fleet] redis_url`; docs/fleet.md).

Shared: cache entries and a stream of cache changes (`entries.py`, applied to each box's own
hnswlib replica by `follower.py`, so hits stay local), budget holds and spend (`budgets.py`,
atomic Lua), and each box's ledger figures (`figures.py`). Not shared: the SQLite ledger
(each box's durable record), the index itself, keys and config files. Redis trouble never
costs a request (`link.py`, `outbox.py`). `fleet.Fleet` assembles the parts for the runtime.

The pipeline never imports this package (nor redis): the runtime hands it a `ReplicatedCache`
and a `FleetBudgets`, which are a `SemanticCache` and a `BudgetTracker`.
"""
