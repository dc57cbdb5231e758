"""Build a realistic mixed traffic log for `appliance replay` from the dev data.

Two apps over one week, all logged on gpt-4o (the all-frontier "before" of the case study):
  - `tutor` (own system prompt): exam and maths prompts from router/outcomes.jsonl, carrying
    their weak_correct / strong_correct labels, so the replay can report quality kept;
  - `helpdesk` (another system prompt): short user questions from cache/qqp_pairs.jsonl.gz;
    for same_answer=true pairs the `b` wording arrives later as a paraphrase of `a`, and
    questions from other pairs are one-offs.
On top, popular prompts come back verbatim (Zipf-like popularity), 5% of requests sample hot
(temperature 1.0, not cacheable), 20% of lines carry no usage (the replay then counts tokens
itself), and a few lines are truncated, as real logs have. Arrivals follow a day/night curve.

Usage: .venv/bin/python bench/workload.py --out /tmp/workload.jsonl.gz [--requests 5000]
       [--mix mixed|chat]   (chat: the helpdesk half alone, for a short-prompt throughput run)
Token counts in `usage` are synthetic: prompt ~ chars/4 + framing, completion log-normal
(median 40 for multiple choice, 180 for maths and questions). Dev data only; never shipped.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
from pathlib import Path

DATA = Path("/work/shared/data")
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
WEEK_S = 7 * 86400.0
SYSTEM = {
    "tutor": "You are a careful tutor. Answer the question; for multiple choice give the letter.",
    "helpdesk": "You are the helpdesk assistant of Acme Corp. Answer briefly and politely.",
}


def _arrival(rng: random.Random) -> float:
    """A time in the week, denser by day (rejection sampling on a day/night curve)."""
    while True:
        t = rng.uniform(0.0, WEEK_S)
        hour = (t % 86400.0) / 3600.0
        if rng.random() < 0.25 + 0.75 * max(0.0, math.sin(math.pi * (hour - 6.0) / 14.0)):
            return START + t


def _line(
    rng: random.Random,
    client: str,
    prompt: str,
    ts: float,
    labels: dict[str, bool] | None,
    multiple_choice: bool,
) -> dict[str, object]:
    hot = rng.random() < 0.05
    request: dict[str, object] = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": SYSTEM[client]},
            {"role": "user", "content": prompt},
        ],
        "temperature": 1.0 if hot else 0.0,
    }
    line: dict[str, object] = {"timestamp": round(ts, 3), "client": client, "request": request}
    if rng.random() >= 0.2:
        median = 40 if multiple_choice else 180
        line["usage"] = {
            "prompt_tokens": (len(SYSTEM[client]) + len(prompt)) // 4 + 8,
            "completion_tokens": max(1, int(rng.lognormvariate(math.log(median), 0.5))),
        }
    if labels:
        line.update(labels)
    return line


# Shares of (tutor, helpdesk originals, their paraphrases, one-off questions); repeats fill
# the rest. "chat" is helpdesk traffic alone: short questions, the encoder's cheapest case.
MIXES = {"mixed": (0.40, 0.24, 0.12, 0.10), "chat": (0.0, 0.40, 0.20, 0.20)}


def build(requests: int, seed: int, mix: str = "mixed") -> list[dict[str, object]]:
    rng = random.Random(seed)
    outcomes = [json.loads(x) for x in (DATA / "router/outcomes.jsonl").open(encoding="utf-8")]
    with gzip.open(DATA / "cache/qqp_pairs.jsonl.gz", "rt", encoding="utf-8") as f:
        pairs = [json.loads(x) for _, x in zip(range(20000), f, strict=False)]
    same = [p for p in pairs if p["same_answer"]]
    other = [p for p in pairs if not p["same_answer"]]
    n_tutor, n_orig, n_para, n_other = (int(requests * share) for share in MIXES[mix])
    n_repeat = requests - n_tutor - n_orig - n_para - n_other
    lines: list[dict[str, object]] = []
    for row in rng.sample(outcomes, n_tutor):
        labels = {"weak_correct": row["weak_correct"], "strong_correct": row["strong_correct"]}
        mc = row["source"].startswith("mmlu")
        lines.append(_line(rng, "tutor", row["prompt"], _arrival(rng), labels, mc))
    for i, pair in enumerate(rng.sample(same, n_orig)):
        first = _arrival(rng)
        lines.append(_line(rng, "helpdesk", pair["a"], first, None, False))
        if i < n_para:  # the paraphrase comes later the same week
            later = first + rng.uniform(60.0, max(120.0, START + WEEK_S - first))
            lines.append(_line(rng, "helpdesk", pair["b"], later, None, False))
    for pair in rng.sample(other, n_other):
        lines.append(_line(rng, "helpdesk", pair["a"], _arrival(rng), None, False))
    originals = list(lines)
    weights = [1.0 / (rank + 1) ** 1.1 for rank in range(len(originals))]
    for source in rng.choices(originals, weights=weights, k=n_repeat):
        repeat = json.loads(json.dumps(source))
        base = float(source["timestamp"])  # type: ignore[arg-type]
        repeat["timestamp"] = round(base + rng.uniform(30.0, max(60.0, START + WEEK_S - base)), 3)
        lines.append(repeat)
    lines.sort(key=lambda x: float(x["timestamp"]))  # type: ignore[arg-type]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/workload.jsonl.gz"))
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--mix", choices=sorted(MIXES), default="mixed")
    args = parser.parse_args()
    lines = build(args.requests, args.seed, args.mix)
    rng = random.Random(args.seed + 1)
    broken = set(rng.sample(range(len(lines)), 3))
    with gzip.open(args.out, "wt", encoding="utf-8") as out:
        for i, line in enumerate(lines):
            text = json.dumps(line, ensure_ascii=False)
            out.write((text[: len(text) // 2] if i in broken else text) + "\n")
    print(f"wrote {len(lines):,} lines ({len(broken)} truncated on purpose) to {args.out}")


if __name__ == "__main__":
    main()
