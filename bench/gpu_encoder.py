"""The cache's encoder on the GPU vs the CPU, and the daemon's GPU telemetry under load: the
one script to run when a GPU box is lent (it prints CPU-only figures elsewhere).

    .venv/bin/python bench/gpu_encoder.py [--seconds 10] [--concurrency 32]

On a GPU box, first put onnxruntime's CUDA build in the venv as install.sh does:
    .venv/bin/pip uninstall -y onnxruntime && .venv/bin/pip install 'onnxruntime-gpu[cuda,cudnn]'

1. The encoder alone, a CPU session beside an `auto` one (the GPU where it works): batch-1
   p50 on short questions, texts/s at batch 32 and on ~200-token texts, and the cosine between
   the two devices' vectors for the same texts (the cache's thresholds and the verifier were
   calibrated on CPU vectors, so they must agree).
2. Two daemons, `cache.encoder_device` "cpu" and "auto", each serving semantic hits with the
   embedding memo off (every hit encoded) at c=1 (httpx) and c=N (wrk), while
   `/admin/stats` is sampled: the GPU utilisation and memory NVML reports, and the encoder's
   device from `/metrics`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time

import httpx
import numpy as np
from cache_http import semantic_rows
from loadgen import start_appliance, table

from appliance.embedding.encoder import Encoder

SHORT = [f"What is the capital of country number {i}, and why there?" for i in range(64)]
LONG = [
    "The committee reviewed the quarterly report in detail and noted revenue. " * 14 + str(i)
    for i in range(16)
]


def encoder_alone(device: str) -> tuple[dict[str, float], np.ndarray, str]:
    encoder = Encoder(device=device)
    encoder.encode(SHORT[:4])
    encoder.encode(LONG[:2])
    times = []
    for i in range(200):
        started = time.perf_counter()
        encoder.encode([SHORT[i % len(SHORT)]])
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(4):
        encoder.encode(SHORT[:32])
    batch = 128 / (time.perf_counter() - started)
    started = time.perf_counter()
    encoder.encode(LONG)
    long = len(LONG) / (time.perf_counter() - started)
    row = {"b1_p50_ms": statistics.median(times) * 1000, "b32_per_s": batch, "long_per_s": long}
    return row, encoder.encode(SHORT + LONG), encoder.device


class StatsSampler(threading.Thread):
    """Polls `/admin/stats` every half second while the load runs."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.http = httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"})
        self.samples: list[dict[str, object]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            system = self.http.get("/admin/stats", timeout=5).json()["system"]
            self.samples.append(system)

    def summary(self) -> str:
        gpus = [g for s in self.samples for g in s.get("gpus", [])]  # type: ignore[attr-defined]
        if not gpus:
            errors = {s.get("gpu_error") for s in self.samples}
            return f"no GPU telemetry ({', '.join(str(e) for e in errors)})"
        util = [g["utilization_percent"] for g in gpus if g["utilization_percent"] is not None]
        used = [g["memory_used_bytes"] for g in gpus if g["memory_used_bytes"] is not None]
        return (
            f"{gpus[0]['name']}: utilisation mean {statistics.fmean(util or [0]):.0f}% "
            f"max {max(util or [0]):.0f}%, memory used max {max(used or [0]) / 2**30:.1f} GiB "
            f"({len(self.samples)} samples)"
        )


async def daemon(device: str, concurrency: int, seconds: int) -> list[tuple[str, dict]]:
    server = start_appliance({"cache": {"embedding_memo": 0, "encoder_device": device}})
    sampler = StatsSampler(server.url, server.admin_token())
    try:
        metrics = httpx.get(server.url + "/metrics", timeout=10).text
        ran_on = next(
            (line for line in metrics.splitlines() if line.startswith("appliance_encoder")),
            "appliance_encoder_info missing",
        )
        print(f"daemon with encoder_device={device}: {ran_on}")
        sampler.start()
        rows = await semantic_rows(server, 300, concurrency, seconds, f"memo off, {device}")
        sampler.stop.set()
        sampler.join()
        print(f"  GPU under load ({device}): {sampler.summary()}")
        return rows
    finally:
        sampler.stop.set()
        server.stop()


def main(seconds: int, concurrency: int) -> None:
    cpu_row, cpu_vectors, _ = encoder_alone("cpu")
    auto_row, auto_vectors, auto_device = encoder_alone("auto")
    same = (cpu_vectors * auto_vectors).sum(axis=1)
    print(f"{'encoder alone':<24} {'batch 1 p50':>12} {'batch 32':>10} {'~200 tokens':>12}")
    for name, row in (("cpu", cpu_row), (f"auto ({auto_device})", auto_row)):
        print(
            f"{name:<24} {row['b1_p50_ms']:>9.2f} ms {row['b32_per_s']:>8.0f}/s "
            f"{row['long_per_s']:>10.1f}/s"
        )
    print(f"same text, cpu vs {auto_device}: cosine min {same.min():.5f} mean {same.mean():.5f}")
    rows = asyncio.run(daemon("cpu", concurrency, seconds))
    if auto_device != "cpu":
        rows += asyncio.run(daemon("auto", concurrency, seconds))
    else:
        print("(no working CUDA provider here: the GPU daemon rows are skipped)")
    print(table(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    main(args.seconds, args.concurrency)
