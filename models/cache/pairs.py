"""Load the dev pair sets (QQP sample, MeanCache val, contextual follow-ups) in one shape.

It owns reading /work/shared/data/cache and the fixed QQP sample; it must not score anything.
The QQP sample is drawn with a fixed seed so every run reports on the same pairs.
"""

from __future__ import annotations

import gzip
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

DATA = Path(os.environ.get("APPLIANCE_DATA", "/work/shared/data")) / "cache"
QQP_SAMPLE = 8000


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    same_answer: bool


def meancache_val() -> list[Pair]:
    with open(DATA / "meancache_val.jsonl", encoding="utf-8") as fh:
        return [_pair(json.loads(line)) for line in fh if line.strip()]


def qqp_sample(n: int = QQP_SAMPLE, seed: int = 7) -> list[Pair]:
    with gzip.open(DATA / "qqp_pairs.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    random.Random(seed).shuffle(rows)
    return [_pair(r) for r in rows[:n]]


def contextual() -> list[dict[str, str]]:
    with open(DATA / "contextual_followups.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _pair(row: dict[str, object]) -> Pair:
    return Pair(str(row["a"]), str(row["b"]), bool(row["same_answer"]))
