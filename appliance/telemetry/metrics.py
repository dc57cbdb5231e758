"""Prometheus metrics for `/metrics`, fed by the event bus (one registry per app, no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from appliance.admin.messages import RequestEvent
from appliance.version import build_info

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_OVERHEAD_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        Info("appliance_build", "The appliance's version and Python", registry=r).info(build_info())
        self.requests = Counter(
            "appliance_requests", "Finished requests", ["tier", "cache", "status"], registry=r
        )
        self.cache = Counter("appliance_cache_lookups", "Cache lookups", ["outcome"], registry=r)
        self.cost = Counter("appliance_cost_usd", "Spend in USD", ["tier"], registry=r)
        self.baseline = Counter(
            "appliance_baseline_cost_usd", "What the frontier tier would have cost", registry=r
        )
        self.savings = Counter(
            "appliance_savings_usd", "Baseline minus actual spend (never negative)", registry=r
        )
        self.tokens = Counter("appliance_tokens", "Tokens billed", ["tier", "kind"], registry=r)
        self.escalations = Counter("appliance_escalations", "Requests that escalated", registry=r)
        self.latency = Histogram(
            "appliance_request_latency_seconds",
            "End-to-end latency",
            ["cache"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "appliance_overhead_seconds",
            "Time spent in the appliance outside backends",
            buckets=_OVERHEAD_BUCKETS,
            registry=r,
        )

        # Whether micro-batching batches under load: texts per encoder run, and the texts
        # served from the memo of recent embeddings without a run.
        self.embed_batch = Histogram(
            "appliance_embedding_batch_size",
            "Texts per encoder run",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.embed_memo = Counter(
            "appliance_embedding_memo_hits", "Texts embedded from the recent memo", registry=r
        )
        self._encoder = Info("appliance_encoder", "Where the cache's encoder runs", registry=r)

    def observe(self, event: RequestEvent) -> None:
        self.requests.labels(event.tier, event.cache, event.status).inc()
        self.cache.labels(event.cache).inc()
        self.cost.labels(event.tier).inc(event.cost_usd)
        self.baseline.inc(event.baseline_usd)
        self.savings.inc(max(event.baseline_usd - event.cost_usd, 0.0))
        self.tokens.labels(event.tier, "prompt").inc(event.prompt_tokens)
        self.tokens.labels(event.tier, "completion").inc(event.completion_tokens)
        if event.attempts > 1:
            self.escalations.inc()
        self.latency.labels(event.cache).observe(event.latency_ms / 1000.0)

    def observe_overhead(self, seconds: float) -> None:
        self.overhead.observe(seconds)

    def observe_embed_batch(self, texts: int) -> None:
        self.embed_batch.observe(texts)

    def observe_embed_memo(self) -> None:
        self.embed_memo.inc()

    def encoder_device(self, device: str, precision: str) -> None:
        self._encoder.info({"device": device, "precision": precision})

    def render(self) -> bytes:
        return generate_latest(self.registry)
