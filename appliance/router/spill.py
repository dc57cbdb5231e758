"""Load-aware spill: when the local tier is busy, send its traffic one tier up.

A local vLLM server under a burst queues requests and latency climbs for everyone; a cheap
cloud tier answers at once. So when the local queue is long or the KV cache is nearly full,
the request that would have gone local spills to tier 2, and the reason is recorded as the
route reason ("spill:queue", "spill:kv-cache") so the ledger and the TUI show why.

It must not judge *availability*: a down backend is the circuit breaker's and the cascade's
business. Spill only reads load from a healthy server; unknown load (None) never spills.
"""

from __future__ import annotations

from typing import Protocol


class Load(Protocol):
    """What spill reads of a backend's health (`backends.base.BackendHealth` has it)."""

    @property
    def state(self) -> str: ...

    @property
    def queue_depth(self) -> int | None: ...

    @property
    def kv_cache_usage(self) -> float | None: ...


SPILL_QUEUE = "spill:queue"
SPILL_KV_CACHE = "spill:kv-cache"


def should_spill(health: Load, queue_depth_limit: int, kv_limit: float) -> str | None:
    """The route reason for spilling this request, or None to keep it local.

    `queue_depth_limit` is the number of waiting requests at which to spill
    (`router.spill_queue_depth`); `kv_limit` the KV-cache fraction, 0..1
    (`router.spill_kv_cache_usage`). A limit <= 0 turns that check off.
    """
    if health.state != "up":
        return None
    if (
        queue_depth_limit > 0
        and health.queue_depth is not None
        and health.queue_depth >= queue_depth_limit
    ):
        return SPILL_QUEUE
    if kv_limit > 0 and health.kv_cache_usage is not None and health.kv_cache_usage >= kv_limit:
        return SPILL_KV_CACHE
    return None
