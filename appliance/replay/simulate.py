"""The audit itself: a log's requests through the real cache and router, then priced.

It owns the replay order (timestamp order, as `reader` sorted it), the scratch cache, the
token counts used for pricing and the before/after arithmetic. It must not read files or print
(`reader`, `report`), and never touches the live state dir: the cache is a fresh
`SemanticCache` in a temporary directory, deleted afterwards.

The stages mirror `pipeline/chat.py` so the audit shows what the gateway would do:
  key (`cache.scope.build_key`, every request as model `auto`, namespace `shared`)
  -> embed (batched, deduplicated, length-sorted: embedding does not depend on cache state)
  -> cache lookup then store, strictly one request after another, so request i sees exactly
     the entries of requests before it (a repeat hits, a paraphrase hits if the guards agree)
  -> route the misses (`RoutingPolicy` from `policy.build_policy`, as the gateway builds it, fed in
     order, so a share-based policy's rolling window moves as it would live)
  -> price with the same `PriceTable` and `cost()` the ledger uses.
TTL is judged in log time, not wall time: an entry older than `cache.ttl_days` by the log's
clock is a miss, so a month-long log is not flattered by a cache that never expires.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import msgspec
import numpy as np

from appliance.cache.policy import is_cacheable_request, response_refusal
from appliance.cache.scope import CacheKey, build_key
from appliance.config import CacheConfig, Config, Price
from appliance.ledger.prices import PriceTable, baseline_tier
from appliance.replay.reader import LogRecord
from appliance.replay.summary import Summary, summarise
from appliance.replay.vectors import VectorMemo
from appliance.router import policy
from appliance.router.calibration import QualityCurve
from appliance.router.planner import cascade
from appliance.router.policy import RoutingPolicy, ScoreProfile

# Used when the log has no completion count and no response text: the median of the log's
# own counts if it has any, else this (a typical chat answer).
DEFAULT_COMPLETION_TOKENS = 150
NAMESPACE = "shared"
_EMBED_BATCH = 32
_CHUNK = 512

Progress = Callable[[str, int, int], None]


class Embedder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...
    def count_tokens(self, text: str) -> int: ...
    def sees_whole(self, text: str) -> bool: ...


class Scorer(Protocol):
    metadata: dict[str, Any]

    def score(self, vectors: np.ndarray, texts: list[str]) -> np.ndarray: ...


class ReplayError(Exception):
    """The audit cannot run as asked (unknown baseline model, router model missing)."""


@dataclass
class Prepared:
    """What is known about one request before any model runs."""

    key: CacheKey
    cacheable: bool
    storable: bool
    prompt_tokens: int
    completion_tokens: int
    completion_estimated: bool
    before_price: Price
    before_logged: bool  # priced on the model the log names (else on the baseline model)
    timestamp: float | None


@dataclass
class Simulation:
    """Everything the knob-independent stages produced; `sweep` re-runs the rest."""

    config: Config
    records: list[LogRecord]
    prepared: list[Prepared]
    vectors: np.ndarray
    scores: np.ndarray | None
    tier_prices: list[Price]
    baseline_model: str
    price_date: str
    metadata: dict[str, Any] | None = None
    build_s: float = 0.0  # keys, token counts, embeddings, scores
    embed_s: float = 0.0  # the embeddings alone
    distinct_texts: int = 0
    remembered_texts: int = 0  # of those, read from the vector memo of an earlier replay
    # The encoder's window test, so the scratch cache refuses semantic matches on texts longer
    # than the encoder sees, exactly as the live cache does.
    sees_whole: Callable[[str], bool] | None = None


@dataclass
class CachePass:
    origin: list[int | None]  # per request: the request whose stored answer it was served
    kind: list[str | None]  # "exact" | "semantic" | None
    expired: int = 0
    threshold: float = 0.0
    # "verifier" (the bar is the verifier's probability) or "cosine" (the bar is a cosine).
    rule: str = "cosine"


# -- stage 1: keys and token counts ----------------------------------------------------------


def prepare(
    records: Sequence[LogRecord],
    config: Config,
    prices: PriceTable,
    baseline: Price,
    force_baseline: bool,
    count: Callable[[str], int],
) -> list[Prepared]:
    """Cache keys and pricing inputs. "Before" is the model the log names, priced from the
    table, unless `force_baseline` (an explicit --baseline-model) or the model is unknown."""
    from appliance.ledger.billing import estimate_usage

    logged = [r.completion_tokens for r in records if r.completion_tokens is not None]
    default = int(statistics.median(logged)) if logged else DEFAULT_COMPLETION_TOKENS
    out = []
    for record in records:
        req = record.request
        builtins = msgspec.to_builtins(req)
        params = {k: v for k, v in builtins.items() if k not in ("messages", "model")}
        key = build_key(NAMESPACE, "auto", builtins["messages"], params)
        cacheable = bool(key.text) and is_cacheable_request(params, config.cache)
        storable = (
            record.response is None or response_refusal(record.response, config.cache) is None
        )
        prompt = record.prompt_tokens
        if prompt is None:
            prompt = estimate_usage(req, "", count).prompt_tokens
        completion, estimated = record.completion_tokens, False
        if completion is None:
            estimated = not record.response_text
            completion = count(record.response_text) if record.response_text else default
        model_price = None if force_baseline else prices.price_for(record.model)
        out.append(
            Prepared(
                key=key,
                cacheable=cacheable,
                storable=storable,
                prompt_tokens=prompt,
                completion_tokens=completion,
                completion_estimated=estimated,
                before_price=model_price or baseline,
                before_logged=model_price is not None,
                timestamp=record.timestamp,
            )
        )
    return out


# -- stage 2: embeddings and scores ----------------------------------------------------------


def embed_all(
    texts: list[str],
    encoders: Sequence[Embedder],
    progress: Progress | None = None,
    memo: VectorMemo | None = None,
) -> tuple[np.ndarray, int]:
    """Vectors in input order, and how many distinct texts came from `memo`. Each distinct
    text is embedded once, and batches hold texts of similar length, because padding to the
    longest text in a batch is most of the cost.

    Several encoders (one onnxruntime thread each) work on interleaved batches in threads:
    onnxruntime releases the GIL, and on 2 cores two one-thread sessions embedded ~20-50% more
    texts per second than one two-thread session (less time lost synchronising threads)."""
    unique = list(dict.fromkeys(texts))
    vectors = np.zeros((len(unique), 384), dtype=np.float32)
    remembered = memo.recall(unique) if memo is not None else {}
    for i, vector in remembered.items():
        vectors[i] = vector
    missing = [i for i in range(len(unique)) if i not in remembered]
    order = sorted(missing, key=lambda i: len(unique[i]))
    batches = [order[s : s + _EMBED_BATCH] for s in range(0, len(order), _EMBED_BATCH)]
    lock = threading.Lock()
    done = 0

    def work(worker: int) -> None:
        nonlocal done
        for batch in batches[worker :: len(encoders)]:
            vectors[batch] = encoders[worker].encode([unique[i] for i in batch])
            with lock:
                done += len(batch)
                if progress is not None:
                    progress("embedding", done, len(missing))

    if len(encoders) == 1:
        work(0)
    else:
        with ThreadPoolExecutor(len(encoders), thread_name_prefix="replay-embed") as pool:
            list(pool.map(work, range(len(encoders))))
    if memo is not None and missing:
        memo.remember([unique[i] for i in missing], vectors[missing])
    position = {text: i for i, text in enumerate(unique)}
    return (vectors[[position[t] for t in texts]] if texts else vectors), len(remembered)


def score_all(vectors: np.ndarray, texts: list[str], scorer: Scorer) -> np.ndarray:
    scores = [
        scorer.score(vectors[i : i + _CHUNK], texts[i : i + _CHUNK])
        for i in range(0, len(texts), _CHUNK)
    ]
    return np.concatenate(scores) if scores else np.zeros(0)


def build(
    records: list[LogRecord],
    config: Config,
    encoder: Embedder | Sequence[Embedder],
    scorer: Scorer | None,
    baseline_model: str | None = None,
    progress: Progress | None = None,
    memo: VectorMemo | None = None,
) -> Simulation:
    """Run the knob-independent stages: keys, token counts, embeddings, router scores.
    `encoder` may be several (see `embed_all`); the first also counts tokens. `memo` holds
    the vectors of earlier replays (read first, then given the new ones)."""
    encoders = list(encoder) if isinstance(encoder, Sequence) else [encoder]
    prices = PriceTable.for_config(config)
    forced = bool(baseline_model)
    if baseline_model:
        baseline = prices.price_for(baseline_model)
        if baseline is None:
            raise ReplayError(
                f"--baseline-model: {baseline_model!r} is not in the price table "
                "(add it under [ledger.prices] in the config)"
            )
    else:
        tier = baseline_tier(config)
        baseline, baseline_model = prices.price_for_tier(tier), tier.model or tier.name
    if len(config.tiers) > 1 and scorer is None:
        raise ReplayError("replay: the config has several tiers but no router model is loaded")
    started = time.perf_counter()
    prepared = prepare(records, config, prices, baseline, forced, encoders[0].count_tokens)
    texts = [p.key.text for p in prepared]
    embedding = time.perf_counter()
    vectors, remembered = embed_all(texts, encoders, progress, memo)
    embed_s = time.perf_counter() - embedding
    scores = score_all(vectors, texts, scorer) if len(config.tiers) > 1 and scorer else None
    return Simulation(
        config=config,
        records=records,
        prepared=prepared,
        vectors=vectors,
        scores=scores,
        tier_prices=[prices.price_for_tier(t) for t in config.tiers],
        baseline_model=baseline_model,
        price_date=prices.date,
        metadata=scorer.metadata if scorer is not None else None,
        build_s=time.perf_counter() - started,
        embed_s=embed_s,
        distinct_texts=len(set(texts)),
        remembered_texts=remembered,
        sees_whole=encoders[0].sees_whole,
    )


# -- stage 3: the cache, in order --------------------------------------------------------------


def run_cache(
    sim: Simulation, cache_config: CacheConfig, progress: Progress | None = None
) -> CachePass:
    """Look up, then store on a miss, one request at a time in a scratch cache."""
    from appliance.cache.semantic import SemanticCache
    from appliance.cache.verifier import Verifier

    config = msgspec.structs.replace(cache_config, index_save_interval_s=3600.0)
    # The gateway's own rule: the verifier reads every candidate when it is on (the default).
    verifier = Verifier() if config.verifier else None
    result = CachePass(
        [None] * len(sim.prepared),
        [None] * len(sim.prepared),
        threshold=config.verifier_threshold if verifier else config.threshold,
        rule="verifier" if verifier else "cosine",
    )
    if not cache_config.enabled:
        return result
    ttl_s = cache_config.ttl_days * 86400.0
    origin_of: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="appliance-replay-", dir=_scratch_root()) as scratch:
        cache = SemanticCache(Path(scratch), config, sees_whole=sim.sees_whole, verifier=verifier)
        try:
            for i, item in enumerate(sim.prepared):
                if progress is not None and (i % 256 == 0 or i == len(sim.prepared) - 1):
                    progress("cache", i + 1, len(sim.prepared))
                if not item.cacheable:
                    continue
                vector = sim.vectors[i]
                found = cache.lookup(item.key, vector)
                if found.outcome == "hit" and found.entry_id in origin_of:
                    origin = origin_of[found.entry_id]
                    then = sim.prepared[origin].timestamp
                    if item.timestamp is None or then is None or item.timestamp - then <= ttl_s:
                        result.origin[i], result.kind[i] = origin, found.tier
                        continue
                    result.expired += 1
                if item.storable:
                    entry_id = cache.new_entry_id()
                    cache.store(entry_id, item.key, vector, b'{"replayed": true}')
                    origin_of[entry_id] = i
        finally:
            cache.close()
    return result


def _scratch_root() -> str | None:
    """RAM-backed when the OS has it: the store commits every write durably, which on a real
    disk costs milliseconds an audit has no use for (the scratch copy is thrown away)."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


# -- stage 4: routing ----------------------------------------------------------------------------


def build_policy(config: Config, metadata: dict[str, Any]) -> RoutingPolicy | None:
    """The policy exactly as the gateway builds it from the same config; None for one tier
    (nothing to route)."""
    n = len(config.tiers)
    if n < 2:
        return None
    profile, curve = ScoreProfile.from_metadata(metadata), QualityCurve.optional(metadata)
    return policy.build_policy(config.router, n, profile, curve)


def route(sim: Simulation, cache: CachePass, assign: Callable[[float], int] | None) -> list[int]:
    """Tier index per request (a hit keeps -1). Misses are fed to `assign` (a policy's
    `route`, or fixed cut points' `tier`) in log order; a disabled tier passes the request on
    in the planner's cascade order (up, then down)."""
    enabled = [t.enabled for t in sim.config.tiers]
    top = len(enabled) - 1
    tiers = []
    for i, origin in enumerate(cache.origin):
        if origin is not None:
            tiers.append(-1)
            continue
        start = top if assign is None or sim.scores is None else assign(float(sim.scores[i]))
        order = cascade(range(top + 1), start)
        tiers.append(next((t for t in order if enabled[t]), start))
    return tiers


def simulate(
    sim: Simulation, progress: Progress | None = None, days: float | None = None
) -> Summary:
    """The cache pass, routing and pricing with the config's own knobs."""
    started = time.perf_counter()
    cache = run_cache(sim, sim.config.cache, progress)
    policy = build_policy(sim.config, sim.metadata) if sim.metadata is not None else None
    tiers = route(sim, cache, policy.route if policy is not None else None)
    cuts = list(policy.cut_points().values) if policy is not None else None
    summary = summarise(sim, cache, tiers, cuts, days)
    summary.elapsed_s = sim.build_s + time.perf_counter() - started
    summary.embed_s, summary.distinct_texts = sim.embed_s, sim.distinct_texts
    summary.remembered_texts = sim.remembered_texts
    if sim.metadata is not None:
        meta = sim.metadata
        summary.router = f"{meta.get('version', '?')} (trained {meta.get('trained', '?')})"
    summary.assignments = tiers
    return summary
