"""A ledger row and how it maps onto the `ledger` table and its hourly roll-up.

It owns the row's fields, their column order (exports use the same) and the arithmetic that
turns a batch of rows into roll-up increments. The file, the writer thread and reads live in
`db.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.ledger.migrations import ROLLUP_BUCKET_S

COLUMNS = (
    "ts, request_id, attempt, client, tier, model, cache, route_score, route_reason, "
    "prompt_tokens, completion_tokens, cached_tokens, cost_usd, baseline_usd, latency_ms, "
    "status, estimated, stream"
)
INSERT = f"INSERT INTO ledger ({COLUMNS}) VALUES ({', '.join('?' * 18)})"
_ROLLUP_COLUMNS = (
    "attempts, requests, answers, cost_usd, baseline_usd, prompt_tokens, completion_tokens, "
    "cached_tokens, cache_hits, cache_lookups, escalations, failed_attempts, estimated_rows, "
    "streamed_rows, latency_ms"
)
ROLLUP_UPSERT = (
    f"INSERT INTO ledger_rollup (bucket, client, tier, {_ROLLUP_COLUMNS}) "
    f"VALUES ({', '.join('?' * 18)}) ON CONFLICT (bucket, client, tier) DO UPDATE SET "
    + ", ".join(f"{c} = {c} + excluded.{c}" for c in _ROLLUP_COLUMNS.split(", "))
)


@dataclass(slots=True, kw_only=True)
class LedgerRow:
    """One attempt at answering one request: a cache hit, or one backend call.

    Every request has exactly one row with `attempt` 0 (its cache hit, or its first backend
    call); an escalated request adds one row per further attempt (1, 2, ...), so the cost of
    the failed cheap try stays visible. Aggregates count requests, hits and escalations from
    these numbers, so never write two rows with the same (request_id, attempt).

    `cached_tokens` is the part of `prompt_tokens` the provider served from its prompt cache (a
    subset, never extra). `baseline_usd` is what the baseline (frontier) tier would have
    charged for the tokens of the answer the client got: set it on the attempt that produced
    the answer and 0 on attempts that were superseded, because an all-frontier setup would
    have made one call, not one per attempt. `estimated` marks token counts the pipeline
    counted itself because the backend sent no usage. `ts` is unix time, when the attempt ended.
    """

    ts: float
    request_id: str
    client: str
    tier: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    baseline_usd: float
    latency_ms: float
    attempt: int = 0
    cache: str = "miss"  # "hit" | "miss" | "bypass"
    route_score: float | None = None
    route_reason: str = ""
    cached_tokens: int = 0
    status: str = "ok"  # "ok" | "error:<kind>"
    estimated: bool = False
    stream: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, keys in column order (export, admin API)."""
        return {name: getattr(self, name) for name in FIELDS}

    def params(self) -> tuple[Any, ...]:
        return (
            self.ts,
            self.request_id,
            self.attempt,
            self.client,
            self.tier,
            self.model,
            self.cache,
            self.route_score,
            self.route_reason,
            self.prompt_tokens,
            self.completion_tokens,
            self.cached_tokens,
            self.cost_usd,
            self.baseline_usd,
            self.latency_ms,
            self.status,
            int(self.estimated),
            int(self.stream),
        )

    @classmethod
    def from_db(cls, r: tuple[Any, ...]) -> LedgerRow:
        return cls(
            ts=r[0],
            request_id=r[1],
            attempt=r[2],
            client=r[3],
            tier=r[4],
            model=r[5],
            cache=r[6],
            route_score=r[7],
            route_reason=r[8],
            prompt_tokens=r[9],
            completion_tokens=r[10],
            cached_tokens=r[11],
            cost_usd=r[12],
            baseline_usd=r[13],
            latency_ms=r[14],
            status=r[15],
            estimated=bool(r[16]),
            stream=bool(r[17]),
        )


# Column (and `to_dict`) order, for exports.
FIELDS = tuple(c.strip() for c in COLUMNS.split(","))


def rollup(rows: list[LedgerRow]) -> list[tuple[Any, ...]]:
    """This batch's contribution to the hourly totals, one tuple per (hour, client, tier)."""
    sums: dict[tuple[int, str, str], list[float]] = {}
    for r in rows:
        key = (int(r.ts // ROLLUP_BUCKET_S) * ROLLUP_BUCKET_S, r.client, r.tier)
        v = sums.get(key)
        if v is None:
            v = sums[key] = [0.0] * 15
        first = r.attempt == 0
        ok = r.status == "ok"
        v[0] += 1
        v[1] += first
        v[2] += ok
        v[3] += r.cost_usd
        v[4] += r.baseline_usd
        v[5] += r.prompt_tokens
        v[6] += r.completion_tokens
        v[7] += r.cached_tokens
        v[8] += r.cache == "hit"
        v[9] += first and r.cache in ("hit", "miss")
        v[10] += r.attempt == 1
        v[11] += not ok
        v[12] += r.estimated
        v[13] += r.stream
        v[14] += r.latency_ms
    return [(*key, *v) for key, v in sums.items()]
