"""Calibrate the semantic cache threshold and guards on the dev pairs; write CALIBRATION.md.

Run from the repo root: `.venv/bin/python models/cache/calibrate.py`.

Protocol: for each pair, `a` is stored and `b` is asked. A hit on a same-answer pair counts
toward recall; a hit on a different-answer pair is a wrong hit (rate = wrong hits / all
different-answer pairs). Plain cosine and cosine + guards are scored per threshold. The
threshold is chosen on MeanCache val (the lowest one whose guarded wrong-hit rate is <= 2%,
i.e. the best recall under that cap) and reported on a held-out QQP sample. Contextual
follow-ups run through the real `SemanticCache` with real keys: each conversation
[main, answer, follow-up] is stored; the same follow-up after another row's conversation is
a trap, as is another row's follow-up asked in the same conversation.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from appliance.cache import guards  # noqa: E402
from appliance.cache.scope import build_key, normalise_text  # noqa: E402
from appliance.cache.semantic import SemanticCache  # noqa: E402
from appliance.config import CacheConfig  # noqa: E402
from models.cache import pairs as data  # noqa: E402
from models.cache.embeddings import embed_cached  # noqa: E402

THRESHOLDS = [round(0.80 + 0.01 * i, 2) for i in range(20)]
MAX_WRONG = 0.02
NAIVE = 0.92


@dataclass
class Scored:
    name: str
    sim: np.ndarray
    same: np.ndarray
    blocked: list[str | None]

    def rates(self, threshold: float, guarded: bool) -> tuple[float, float]:
        hit = self.sim >= threshold
        if guarded:
            hit &= np.array([b is None for b in self.blocked])
        recall = float(hit[self.same].mean()) if self.same.any() else float("nan")
        wrong = float(hit[~self.same].mean()) if (~self.same).any() else float("nan")
        return recall, wrong


def score_pairs(name: str, rows: list[data.Pair]) -> Scored:
    texts = sorted({t for p in rows for t in (p.a, p.b)})
    vectors = embed_cached(name, texts)
    where = {t: i for i, t in enumerate(texts)}
    a = vectors[[where[p.a] for p in rows]]
    b = vectors[[where[p.b] for p in rows]]
    config = CacheConfig()
    blocked = [guards.check(normalise_text(p.b), normalise_text(p.a), config) for p in rows]
    same = np.array([p.same_answer for p in rows])
    return Scored(name, np.clip((a * b).sum(axis=1), 0.0, 1.0), same, blocked)


def conversation(main: str, answer: str, follow_up: str) -> list[dict[str, object]]:
    return [
        {"role": "user", "content": main},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": follow_up},
    ]


def contextual(threshold: float) -> dict[str, float]:
    """Ours (real cache, real keys) vs two naive baselines at the same threshold."""
    rows = data.contextual()
    n = len(rows)
    follow = embed_cached("ctx-follow", [normalise_text(r["follow_up"]) for r in rows])
    joined = embed_cached("ctx-joined", [f"{r['main']} {r['follow_up']}" for r in rows])
    crossed = embed_cached(
        "ctx-crossed", [f"{rows[(i + 1) % n]['main']} {r['follow_up']}" for i, r in enumerate(rows)]
    )
    config = CacheConfig(threshold=threshold, index_save_interval_s=3600)
    with tempfile.TemporaryDirectory() as tmp:
        cache = SemanticCache(Path(tmp), config)
        for i, r in enumerate(rows):
            key = build_key(
                "ns", "m", conversation(r["main"], r["main_answer"], r["follow_up"]), {}
            )
            cache.store(cache.new_entry_id(), key, follow[i], r["follow_up_answer"].encode())
        same = other_ctx = other_q = 0
        for i, r in enumerate(rows):
            j = (i + 1) % n
            own = build_key(
                "ns", "m", conversation(r["main"], r["main_answer"], r["follow_up"]), {}
            )
            same += cache.lookup(own, follow[i]).outcome == "hit"
            trap = build_key(
                "ns",
                "m",
                conversation(rows[j]["main"], rows[j]["main_answer"], r["follow_up"]),
                {},
            )
            other_ctx += cache.lookup(trap, follow[i]).outcome == "hit"
            swap = build_key(
                "ns",
                "m",
                conversation(r["main"], r["main_answer"], rows[j]["follow_up"]),
                {},
            )
            other_q += cache.lookup(swap, follow[j]).outcome == "hit"
        cache.close()
    return {
        "rows": n,
        "ours_same_thread_recall": same / n,
        "ours_wrong_other_thread": other_ctx / n,
        "ours_wrong_other_question": other_q / n,
        # A cache keyed on the last user turn alone serves the identical follow-up everywhere.
        "naive_last_turn_wrong": float(np.mean(np.sum(follow * follow, axis=1) >= threshold)),
        # A cache that embeds "main + follow-up" and compares plain cosine.
        "naive_joined_wrong": float(np.mean(np.sum(joined * crossed, axis=1) >= threshold)),
    }


def pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def main() -> None:
    sets = [score_pairs("meancache", data.meancache_val()), score_pairs("qqp", data.qqp_sample())]
    calib = sets[0]
    chosen = next(
        (t for t in THRESHOLDS if calib.rates(t, guarded=True)[1] <= MAX_WRONG), THRESHOLDS[-1]
    )
    lines = [
        "| threshold | "
        + " | ".join(
            f"{s.name} plain recall / wrong | {s.name} guarded recall / wrong" for s in sets
        )
        + " |",
        "|---" * (1 + 2 * len(sets)) + "|",
    ]
    for t in THRESHOLDS:
        cells = []
        for s in sets:
            for guarded in (False, True):
                r, w = s.rates(t, guarded)
                cells.append(f"{pct(r)} / {pct(w)}")
        mark = " **(chosen)**" if t == chosen else (" (naive 0.92)" if t == NAIVE else "")
        lines.append(f"| {t:.2f}{mark} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)

    summary = [
        "| dataset | pairs (same / different) | plain @0.92 recall / wrong | "
        f"plain @{chosen:.2f} recall / wrong | guarded @{chosen:.2f} recall / wrong |",
        "|---|---|---|---|---|",
    ]
    for s in sets:
        r0, w0 = s.rates(NAIVE, False)
        r1, w1 = s.rates(chosen, False)
        r2, w2 = s.rates(chosen, True)
        summary.append(
            f"| {s.name} | {int(s.same.sum())} / {int((~s.same).sum())} | "
            f"{pct(r0)} / {pct(w0)} | {pct(r1)} / {pct(w1)} | {pct(r2)} / {pct(w2)} |"
        )
    plain_cap = next(
        (t for t in THRESHOLDS if calib.rates(t, guarded=False)[1] <= MAX_WRONG), THRESHOLDS[-1]
    )
    for s in sets:
        r3, w3 = s.rates(plain_cap, False)
        summary.append(
            f"| {s.name}, plain cosine at its own <= {pct(MAX_WRONG).strip()} point "
            f"({plain_cap:.2f}) | | | | {pct(r3)} / {pct(w3)} |"
        )
    ctx = contextual(chosen)
    summary.append(
        f"| contextual follow-ups | {ctx['rows']} threads | last-turn-only cache: wrong "
        f"{pct(ctx['naive_last_turn_wrong'])}; main+follow-up embedded: wrong "
        f"{pct(ctx['naive_joined_wrong'])} | - | ours: same-thread recall "
        f"{pct(ctx['ours_same_thread_recall'])}, wrong (other thread) "
        f"{pct(ctx['ours_wrong_other_thread'])}, wrong (other question, same thread) "
        f"{pct(ctx['ours_wrong_other_question'])} |"
    )
    summary_text = "\n".join(summary)
    print("\n" + summary_text)

    guard_lines = [
        "| dataset | guard | different-answer pairs blocked (above threshold) | "
        "same-answer pairs lost (above threshold) |",
        "|---|---|---|---|",
    ]
    for s in sets:
        above = s.sim >= chosen
        for name in ("numbers", "negation", "entities"):
            hit = np.array([b == name for b in s.blocked]) & above
            guard_lines.append(
                f"| {s.name} | {name} | {int((hit & ~s.same).sum())} | "
                f"{int((hit & s.same).sum())} |"
            )
    guard_text = "\n".join(guard_lines)
    print("\n" + guard_text)

    out = Path(__file__).with_name("CALIBRATION.md")
    out.write_text(
        "# Semantic cache calibration\n\nGenerated by `models/cache/calibrate.py`; do not edit "
        "by hand.\nStore `a`, ask `b`. Recall = same-answer pairs served; wrong = "
        "different-answer pairs served (share of all different-answer pairs). Calibrated on "
        f"MeanCache val (lowest threshold with guarded wrong <= {pct(MAX_WRONG).strip()}), "
        f"reported on a fixed QQP sample of {len(data.qqp_sample())} pairs.\n\n"
        f"Chosen threshold: **{chosen:.2f}**\n\n## Summary\n\n{summary_text}\n\n"
        f"## Per threshold\n\n{table}\n\n## What each guard does at {chosen:.2f}\n\n"
        f"{guard_text}\n",
        encoding="utf-8",
    )
    print(f"\nchosen threshold {chosen:.2f}; wrote {out}")


if __name__ == "__main__":
    main()
