"""Ours vs GPTCache on the same QQP pairs, same vectors, same protocol, same run.

Run in a bench venv that has gptcache plus our runtime deps (GPTCache is never a product
dependency):
    python3 -m venv /tmp/gptvenv
    /tmp/gptvenv/bin/pip install gptcache hnswlib sqlalchemy diskcache msgspec numpy
    /tmp/gptvenv/bin/python bench/gptcache_compare.py [--pairs qqp|heldout]
It needs the embeddings cached by `models/cache/calibrate.py` (our MiniLM encoder): the QQP
sample, or the hand-written held-out trap pairs (`--pairs heldout`, scored per category).

Protocol (a realistic shared cache, harsher than calibrate.py's one-pair-at-a-time): every
pair's `a` is stored with its own answer, then every `b` is asked. A hit is correct only on
a same-answer pair that returns that pair's own answer; every other hit is wrong. Both caches
get our encoder's vectors through a lookup table (no hub is reachable to load GPTCache's
default model), so latency is the cache's own cost, embedding excluded. GPTCache runs with
its documented default (sqlite + hnswlib, SearchDistanceEvaluation, similarity_threshold
0.8, which on unit vectors means squared L2 <= 0.8, i.e. cosine >= 0.6) and with its
threshold mapped to our chosen cosine (with its default top_k=1, and top_k=5). One shim is
applied (see `gptcache()`): without it gptcache 0.1.44 with numpy 2 never hits at all.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appliance.cache.scope import build_key  # noqa: E402
from appliance.cache.semantic import SemanticCache  # noqa: E402
from appliance.cache.verifier import Verifier  # noqa: E402
from appliance.config import CacheConfig  # noqa: E402
from appliance.text import normalise_text  # noqa: E402
from models.cache import evaluate  # noqa: E402
from models.cache import pairs as data  # noqa: E402
from models.cache.embeddings import embed_cached  # noqa: E402
from models.cache.multiturn import TunedConfig  # noqa: E402

SAMPLE = 2000


def load(which: str) -> tuple[list[data.Pair], dict[str, np.ndarray], list[str]]:
    if which == "heldout":
        examples = evaluate.load_pairs(ROOT / "models" / "cache" / "traps" / "heldout_pairs.jsonl")
        rows = [data.Pair(e.a, e.b, e.same) for e in examples]
        texts = sorted({normalise_text(t) for p in rows for t in (p.a, p.b)})
        vectors = embed_cached("heldout", texts)  # same cache key as calibrate.py
        table = dict(zip(texts, vectors, strict=True))
        return (
            rows,
            {t: table[normalise_text(t)] for p in rows for t in (p.a, p.b)},
            [e.category for e in examples],
        )
    rows = data.qqp_sample()
    texts = sorted({t for p in rows for t in (p.a, p.b)})
    vectors = embed_cached("qqp", texts)  # same cache key as calibrate.py
    table = dict(zip(texts, vectors, strict=True))
    return rows[:SAMPLE], table, []


def by_category(rows: list[data.Pair], answers: list[str | None], categories: list[str]) -> str:
    """Served share per trap category (recall for same-answer kinds, wrong otherwise)."""
    cells = []
    for category in dict.fromkeys(categories):
        idx = [i for i, c in enumerate(categories) if c == category]
        served = sum(answers[i] is not None for i in idx)
        cells.append(f"{category} {100 * served / len(idx):.1f}%")
    return "  ".join(cells)


def score(name: str, rows: list[data.Pair], answers: list[str | None], times: list[float]) -> None:
    correct = wrong_pos = wrong_neg = 0
    for i, (pair, answer) in enumerate(zip(rows, answers, strict=True)):
        if answer is None:
            continue
        if pair.same_answer and answer == str(i):
            correct += 1
        elif pair.same_answer:
            wrong_pos += 1
        else:
            wrong_neg += 1
    pos = sum(p.same_answer for p in rows)
    neg = len(rows) - pos
    hits = sum(a is not None for a in answers)
    ms = np.array(times) * 1000
    print(
        f"{name:<44} recall {100 * correct / pos:5.1f}%  wrong on different-answer pairs "
        f"{100 * wrong_neg / neg:5.1f}%  wrong answers among all hits "
        f"{100 * (wrong_pos + wrong_neg) / max(hits, 1):5.1f}%  "
        f"lookup p50 {np.percentile(ms, 50):.3f} ms p99 {np.percentile(ms, 99):.3f} ms"
    )


def ours(
    rows: list[data.Pair],
    table: dict[str, np.ndarray],
    threshold: float,
    verified: bool = False,
    categories: list[str] | None = None,
) -> None:
    config: CacheConfig = CacheConfig(threshold=threshold, index_save_interval_s=3600)
    if verified:
        config = TunedConfig(index_save_interval_s=3600)
    with tempfile.TemporaryDirectory() as tmp:
        cache = SemanticCache(Path(tmp), config, verifier=Verifier() if verified else None)
        for i, pair in enumerate(rows):
            key = build_key("ns", "m", [{"role": "user", "content": pair.a}], {})
            cache.store(cache.new_entry_id(), key, table[pair.a], str(i).encode())
        answers: list[str | None] = []
        times = []
        for pair in rows:
            key = build_key("ns", "m", [{"role": "user", "content": pair.b}], {})
            t = time.perf_counter()
            got = cache.lookup(key, table[pair.b])
            times.append(time.perf_counter() - t)
            answers.append(got.response.decode() if got.response else None)
        cache.close()
    label = (
        f"ours (verifier, cosine >= {TunedConfig().candidate_threshold:.2f})"
        if verified
        else f"ours (guards, cosine >= {threshold:.2f})"
    )
    score(label, rows, answers, times)
    if categories:
        print("   ", by_category(rows, answers, categories))


def gptcache(
    rows: list[data.Pair],
    table: dict[str, np.ndarray],
    similarity_threshold: float,
    label: str,
    top_k: int = 1,
    categories: list[str] | None = None,
) -> None:
    from gptcache import Cache, Config
    from gptcache.adapter.api import get, put
    from gptcache.manager import CacheBase, VectorBase, get_data_manager
    from gptcache.processor.pre import get_prompt
    from gptcache.similarity_evaluation.distance import SearchDistanceEvaluation

    with tempfile.TemporaryDirectory() as tmp:
        manager = get_data_manager(
            CacheBase("sqlite", sql_url=f"sqlite:///{tmp}/gpt.db"),
            VectorBase(
                "hnswlib",
                dimension=384,
                index_path=f"{tmp}/gpt.index",
                max_elements=len(rows) + 10,
                top_k=top_k,
            ),
            max_size=len(rows) + 10,  # its default (1000) would evict half the stored rows
        )
        # gptcache 0.1.44 + numpy 2: hnswlib ids come back as np.uint64, which the sqlite
        # store never matches, so every lookup misses. Hand it plain ints.
        search = manager.v.search
        manager.v.search = lambda data, top_k=-1: [
            (float(d), int(i)) for d, i in search(data, top_k)
        ]
        cache = Cache()
        cache.init(
            pre_embedding_func=get_prompt,
            embedding_func=lambda text, **_: table[text],
            data_manager=manager,
            similarity_evaluation=SearchDistanceEvaluation(),
            config=Config(similarity_threshold=similarity_threshold),
        )
        for i, pair in enumerate(rows):
            put(pair.a, str(i), cache_obj=cache)
        answers: list[str | None] = []
        times = []
        for pair in rows:
            t = time.perf_counter()
            got = get(pair.b, cache_obj=cache)
            times.append(time.perf_counter() - t)
            answers.append(got)
    score(label, rows, answers, times)
    if categories:
        print("   ", by_category(rows, answers, categories))


def main(which: str) -> None:
    rows, table, categories = load(which)
    chosen = CacheConfig().threshold
    print(f"{which}: {len(rows)} pairs, {sum(p.same_answer for p in rows)} same-answer")
    ours(rows, table, chosen, categories=categories)
    ours(rows, table, chosen, verified=True, categories=categories)
    ours(rows, table, 0.92, categories=categories)
    gptcache(rows, table, 0.8, "GPTCache default (threshold 0.8 ~ cosine 0.6)", 1, categories)
    # SearchDistanceEvaluation: score = 4 - squared L2 = 2 + 2 cos; hit when score >= 4 t.
    mapped = (2 + 2 * chosen) / 4
    gptcache(rows, table, mapped, f"GPTCache at cosine >= {chosen:.2f} (no guards)", 1, categories)
    # Its hnswlib store searches with ef = 2 * top_k; top_k=5 gives it a fairer ANN recall.
    gptcache(rows, table, mapped, f"GPTCache at cosine >= {chosen:.2f}, top_k=5", 5, categories)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", choices=["qqp", "heldout"], default="qqp")
    main(parser.parse_args().pairs)
