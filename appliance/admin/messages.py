"""Wire types of `/admin/*`, shared by the daemon (`api/admin.py`) and its clients (`tui/`)."""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType


class Money(msgspec.Struct):
    cost_usd: float = 0.0
    baseline_usd: float = 0.0
    savings_usd: float = 0.0
    savings_pct: float = 0.0
    requests: int = 0


class SpendStats(msgspec.Struct):
    today: Money = msgspec.field(default_factory=Money)
    month: Money = msgspec.field(default_factory=Money)
    projected_month_usd: float = 0.0
    projected_baseline_usd: float = 0.0
    server_monthly_usd: float = 0.0


class CacheStats(msgspec.Struct):
    enabled: bool = True
    threshold: float = 0.0
    entries: int = 0
    hits: int = 0
    misses: int = 0
    hit_rate: float = 0.0
    epoch: int = 0


class TierStats(msgspec.Struct):
    name: str
    model: str
    backend: str
    available: bool
    enabled: bool
    reason: str | None = None
    circuit: str = "closed"
    queue_depth: int | None = None
    kv_cache_usage: float | None = None
    requests: int = 0
    share: float = 0.0
    cost_usd: float = 0.0
    price_input: float = 0.0
    price_output: float = 0.0


class ClientStats(msgspec.Struct):
    name: str
    namespace: str
    month_usd: float = 0.0
    budget_usd: float | None = None


class RoutingStats(msgspec.Struct):
    cut_points: list[float] = msgspec.field(default_factory=list)
    target_shares: list[float] | None = None
    # Counts of recent route scores in 20 equal bins over [0, 1].
    score_histogram: list[int] = msgspec.field(default_factory=lambda: [0] * 20)
    escalations: int = 0
    # Per tier name: requests per 10-second bucket over the last 5 minutes, oldest first.
    tier_series: dict[str, list[int]] = msgspec.field(default_factory=dict)


class GpuStats(msgspec.Struct):
    index: int
    name: str | None = None
    utilization_percent: float | None = None
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    # (pid, GPU memory in bytes); empty where the driver does not let us see other processes.
    processes: list[tuple[int, int]] = msgspec.field(default_factory=list)


class SystemStats(msgspec.Struct):
    """One sample of the server's load, taken by the daemon (`telemetry/system.py`)."""

    cpu_percent: float = 0.0
    ram_used_bytes: int = 0
    ram_total_bytes: int = 0
    process_rss_bytes: int = 0
    load_avg: list[float] = msgspec.field(default_factory=list)
    gpus: list[GpuStats] = msgspec.field(default_factory=list)
    # Plainly "no NVIDIA GPU" where there is none: a normal state, not an error.
    gpu_error: str | None = None
    taken_at: float = 0.0


class LedgerHealth(msgspec.Struct):
    ok: bool = True
    error: str | None = None


class Stats(msgspec.Struct):
    time: float
    uptime_s: float
    requests_per_s: float
    spend: SpendStats
    cache: CacheStats
    tiers: list[TierStats]
    clients: list[ClientStats]
    routing: RoutingStats
    system: SystemStats
    ledger: LedgerHealth
    latency_ms_avg: float = 0.0
    version: str = ""
    # The price table in use: its date (YYYY-MM-DD) and whether it is past 60 days old.
    prices_date: str = ""
    prices_stale: bool = False
    fleet: FleetStats | None = None


class RequestEvent(msgspec.Struct, omit_defaults=True):
    """One finished request, as streamed on `/admin/events`. Never carries secrets; carries
    prompt text only when the operator opted in (`security.log_prompts_in_events`)."""

    id: str
    time: float
    client: str
    model: str
    tier: str
    cache: str
    route_reason: str
    status: str
    latency_ms: float
    score: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    baseline_usd: float = 0.0
    attempts: int = 1
    stream: bool = False
    prompt: str | None = None


class TierSetting(msgspec.Struct):
    name: str
    model: str
    enabled: bool
    available: bool
    price_input: float
    price_output: float


class RoutingPreview(msgspec.Struct):
    """What a routing setting should do (`GET /admin/routing/preview`): the share of traffic
    on each tier, quality relative to all-frontier (low: only the top tier counted as
    frontier-grade; high: every tier above the lowest), and cost relative to all-frontier."""

    cut_points: list[float]
    tier_shares: list[float]
    quality_low: float
    quality_high: float
    cost_share: float
    quality_target: float | None = None


class CurvePoint(msgspec.Struct, array_like=True):
    """[share of traffic sent to the top tier, the score cut point for it, quality kept]."""

    share: float
    threshold: float
    quality: float


class LiveConfig(msgspec.Struct):
    """The live-tunable values: what `PATCH /admin/config` may change."""

    cache_enabled: bool
    cache_threshold: float
    cut_points: list[float]
    target_shares: list[float] | None
    tiers: list[TierSetting]
    budgets: dict[str, float | None]
    # The verifier's knobs (None: no verifier, `cache_threshold` decides alone).
    cache_verifier_threshold: float | None = None
    cache_candidate_threshold: float | None = None
    # The quality target in force (None: explicit cut points or shares rule) and what the
    # cut points in force should give on traffic like the router's calibration data.
    quality_target: float | None = None
    expected: RoutingPreview | None = None


class ConfigPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    cache_enabled: bool | UnsetType = UNSET
    cache_threshold: float | UnsetType = UNSET
    cache_verifier_threshold: float | UnsetType = UNSET
    cache_candidate_threshold: float | UnsetType = UNSET
    # Set one of the three; setting one clears the others.
    quality_target: float | UnsetType = UNSET
    cut_points: list[float] | UnsetType = UNSET
    target_shares: list[float] | UnsetType = UNSET
    tiers_enabled: dict[str, bool] | UnsetType = UNSET
    # Client name -> monthly budget in USD (None removes the budget).
    budgets: dict[str, float | None] | UnsetType = UNSET


class InvalidateRequest(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    entry_id: str | None = None
    scope: str | None = None
    older_than_s: float | None = None
    all: bool = False


class InvalidateResult(msgspec.Struct):
    removed: int
    epoch: int


class FeedbackRequest(msgspec.Struct, forbid_unknown_fields=True):
    """`POST /admin/cache/feedback`: a client's verdict on an entry it was served."""

    entry: str
    wrong: bool = True


class FeedbackResult(msgspec.Struct):
    entry: str
    # raised: the entry's own bar went up; dropped: removed; kept; unknown: no such entry.
    action: str
    bar: float
    flags: int


class FlaggedEntry(msgspec.Struct):
    """An entry with feedback against it, for the TUI (kept after it was dropped)."""

    entry: str
    # Empty unless `security.log_prompts_in_events` is on (prompts stay private by default).
    text: str
    flags: int
    bar: float
    dropped: bool
    time: float
    reason: str


class FleetBox(msgspec.Struct, omit_defaults=True):
    """One box's figures as it last published them to Redis (every `publish_interval_s`)."""

    box: str
    updated_at: float = 0.0
    day: str = ""  # the box's local date of `today`
    today: Money = msgspec.field(default_factory=Money)
    month: Money = msgspec.field(default_factory=Money)
    cache_hits: int = 0  # this month
    cache_lookups: int = 0
    cache_entries: int = 0
    lag_p50_ms: float | None = None  # replication lag of the entries it applied
    lag_p99_ms: float | None = None
    queued_writes: int = 0
    # Month-to-date cost per client id (ids are shared when the key store is).
    by_client: dict[str, float] = msgspec.field(default_factory=dict)
    # Set by the reader: published within the last few intervals.
    online: bool = False


class FleetStats(msgspec.Struct):
    """The fleet as this box sees it (`[fleet] redis_url` set); absent on a single box."""

    box: str
    redis_url: str  # without its password
    redis: str  # "up" or "down (why)"
    budgets: str  # "fleet" (held in Redis) or "local" (this box's view while Redis is down)
    queued_writes: int = 0
    dropped_writes: int = 0
    applied_entries: int = 0  # entries from other boxes applied to this box's replica
    snapshots: int = 0
    lag_p50_ms: float | None = None
    lag_p99_ms: float | None = None
    # Budget holds since start: holds_fleet / refused_fleet (decided in Redis), holds_local /
    # refused_local (decided by this box alone while Redis was unreachable).
    holds: dict[str, int] = msgspec.field(default_factory=dict)
    today: Money = msgspec.field(default_factory=Money)  # the fleet's totals
    month: Money = msgspec.field(default_factory=Money)
    boxes: list[FleetBox] = msgspec.field(default_factory=list)
    figures_at: float = 0.0  # when the boxes' figures were last read from Redis
