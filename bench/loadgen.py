"""Shared pieces of the HTTP benchmarks: start an appliance, drive load, summarise latencies.

Benchmarks print numbers and a baseline measured in the same run; they assert nothing (speed
targets live here, not in timed unit tests).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.serving import Server, free_port, write_config  # noqa: E402


def start_appliance(settings: dict[str, Any] | None = None, fd_limit: int | None = None) -> Server:
    directory = Path(tempfile.mkdtemp(prefix="appliance-bench-"))
    config = {"state_dir": str(directory / "state"), **(settings or {})}
    path = write_config(directory / "appliance.toml", config)
    state = directory / "state"
    return Server(path, free_port(), state_dir=state, fd_limit=fd_limit).start()


@dataclass
class Sample:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0

    def summary(self) -> dict[str, float]:
        values = sorted(self.latencies_ms)
        if not values:
            return {"n": 0, "errors": self.errors}
        return {
            "n": len(values),
            "errors": self.errors,
            "p50_ms": percentile(values, 50),
            "p99_ms": percentile(values, 99),
            "mean_ms": statistics.fmean(values),
            "per_s": len(values) / self.elapsed_s if self.elapsed_s else 0.0,
        }


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


async def drive(call: Callable[[int], Awaitable[bool]], total: int, concurrency: int) -> Sample:
    """Run `call(i)` for i in range(total) with `concurrency` workers; `call` returns ok."""
    sample = Sample()
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            began = time.perf_counter()
            try:
                ok = await call(i)
            except Exception:
                ok = False
            if ok:
                sample.latencies_ms.append((time.perf_counter() - began) * 1000.0)
            else:
                sample.errors += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    sample.elapsed_s = time.perf_counter() - began
    return sample


def table(rows: list[tuple[str, dict[str, float]]]) -> str:
    head = f"{'':38} {'n':>7} {'err':>5} {'p50 ms':>9} {'p99 ms':>9} {'req/s':>9}"
    lines = [head]
    for name, s in rows:
        lines.append(
            f"{name:38} {s.get('n', 0):>7.0f} {s.get('errors', 0):>5.0f} "
            f"{s.get('p50_ms', float('nan')):>9.2f} {s.get('p99_ms', float('nan')):>9.2f} "
            f"{s.get('per_s', 0):>9.1f}"
        )
    return "\n".join(lines)
