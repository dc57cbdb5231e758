"""Calibrate the cache verifier and report it against plain cosine, the old guarded cache and
GPTCache's defaults; writes CALIBRATION.md in one run.

    .venv/bin/python models/cache/train_verifier.py --loco-dir /tmp/loco   # seconds
    .venv/bin/python models/cache/calibrate.py --loco-dir /tmp/loco        # --dev: no held-out

Protocol: for each pair `a` is stored and `b` is asked (see `evaluate.py`). The operating
point (loose cosine + verifier threshold, with or without the lexical guards in front) is
chosen on validation only: rule pairs from MeanCache questions hashed to "val" plus real
MeanCache val pairs. It is reported on rule pairs from the other half of MeanCache's
questions ("test") and on the hand-written held-out traps (models/cache/traps/), which nothing
is trained or tuned on. Leave-one-category-out: a model trained without one trap category's
rule pairs (train_verifier.py --loco-dir), given an operating point chosen without that
category, is scored on that category; that is the number an unseen kind of trap would see.
Development runs (`--dev`) leave the held-out traps out and write nothing.
Multi-turn: conversations run through the real `SemanticCache` (multiturn.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from appliance.cache.verifier import Verifier, default_model_path  # noqa: E402
from models.cache import evaluate as ev  # noqa: E402
from models.cache import multiturn, rules, verifier_data  # noqa: E402

HERE = Path(__file__).resolve().parent
HELDOUT = HERE / "traps" / "heldout_pairs.jsonl"
KINDS = (*rules.SAME, *rules.DIFFERENT)
NAIVE = 0.92
# GPTCache's default similarity evaluation (SearchDistanceEvaluation, similarity_threshold
# 0.8) serves when 4 - squared L2 >= 0.8 * 4; on unit vectors that is cosine >= 0.6.
GPTCACHE_COSINE = 0.6


# Honesty note: the held-out table was first produced at commit c029072. Two of its failures
# then led to two general alignment fixes (a typo keeps its first letter: "ethanol" is no
# typo of "methanol"; "cant"/"dont" typed without an apostrophe are negations), so the
# table below is no longer fully blind.
HELDOUT_NOTE = (
    "Seen once before the last change: the first run (commit c029072) gave the verifier "
    "near_repeat 97.1%, paraphrase 2.9%, entity 2.9% wrong, all else 0.0% wrong (LOCO: "
    "number_date 2.9%), recall 50.0%, wrong 0.5% of all pairs. Two of its misses then led to "
    "two general alignment fixes (a typo keeps its first letter, so ethanol/methanol is no "
    "typo; cant/dont without an apostrophe are negations); the table below is after them "
    "and so no longer fully blind. The thresholds were not changed; a tie on validation "
    "between guards in front or not is now broken towards the guards (they only block, and "
    "cache.guard_* default on), which the first run broke the other way."
)


def pct(x: float) -> str:
    return "-" if np.isnan(x) else f"{100 * x:.1f}%"


def row(name: str, r: ev.Rates) -> str:
    cells = " | ".join(pct(r.per_category.get(k, float("nan"))) for k in KINDS)
    return f"| {name} | {cells} | {pct(r.recall)} | {pct(r.wrong_all)} |"


HEADER = (
    "| | "
    + " | ".join(f"{k} ({'recall' if k in rules.SAME else 'wrong'})" for k in KINDS)
    + " | recall (same-answer) | wrong (all pairs) |\n|---"
    + "|---" * (len(KINDS) + 2)
    + "|"
)


def meancache_line(val: ev.Scored, candidate: float, threshold: float, guards: bool) -> str:
    """Served share of MeanCache's same-answer and of its different-answer pairs."""
    mask = val.categories == "meancache"
    same = val.same[mask]
    out = []
    for name, hit in (
        (f"cosine >= {NAIVE}", val.cos >= NAIVE),
        ("before", val.hits(None, 0.94, 0, True)),
        ("verifier", val.hits("full", candidate, threshold, guards)),
    ):
        h = hit[mask]
        out.append(
            f"{name} serves {pct(h[same].mean())} of same / {pct(h[~same].mean())} of different"
        )
    return "; ".join(out) + "."


def loco_hits(s: ev.Scored, points: dict[str, tuple[float, float]], guards: bool) -> np.ndarray:
    """Each pair decided by the model that never saw its category."""
    hit = s.hits("full", *points["full"], guards)
    for category in KINDS:
        if category in points:
            mask = s.categories == category
            hit[mask] = s.hits(category, *points[category], guards)[mask]
    return hit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loco-dir", type=Path, default=None)
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument(
        "--dev", action="store_true", help="development run: no held-out traps, no file written"
    )
    args = parser.parse_args()

    val = ev.score(
        "val", verifier_data.rule_set("val", 11, 150) + verifier_data.meancache_set("val", 1500, 11)
    )
    test = ev.score("test", verifier_data.rule_set("test", 12, 150))
    held = ev.score("heldout", ev.load_pairs(HELDOUT)) if not args.dev else None
    sets = (val, test) if held is None else (val, test, held)
    models = {"full": args.model}
    if args.loco_dir is not None:
        for category in KINDS:
            path = args.loco_dir / category / args.model.name
            if path.exists():
                models[category] = path
    for name, path in models.items():
        verifier = Verifier(path)
        for s in sets:
            ev.add_verifier(s, name, verifier)

    # Operating point: with the guards in front of the verifier, or the verifier alone.
    # MeanCache's Quora labels are noisy (near-identical questions marked different and
    # back): its pairs only cap how many of its different-answer pairs may be served.
    skip: tuple[str, ...] = ()
    options = {g: ev.operating_point(val, "full", g, skip) for g in (False, True)}
    # On a tie the guards stay in front: they only ever block, and cache.guard_* default on.
    use_guards = options[True][2].recall >= options[False][2].recall
    candidate, threshold, val_rates = options[use_guards]
    points = {"full": (candidate, threshold)}
    # The same protocol with the verifier alone: the guards are hand-written knowledge of
    # three trap kinds, so only this row shows what the learned part carries to a new kind.
    alone = {"full": ev.operating_point(val, "full", False, skip)[:2]}
    for category in models:
        if category in KINDS:
            c, t, _ = ev.operating_point(val, category, use_guards, (*skip, category))
            points[category] = (c, t)
            alone[category] = ev.operating_point(val, category, False, (*skip, category))[:2]

    def table(s: ev.Scored) -> str:
        lines = [HEADER]
        lines.append(row(f"plain cosine >= {NAIVE}", ev.rates(s, s.cos >= NAIVE)))
        lines.append(
            row(
                "GPTCache defaults (cosine >= 0.6, emulated)", ev.rates(s, s.cos >= GPTCACHE_COSINE)
            )
        )
        lines.append(
            row("before: cosine >= 0.94 + guards", ev.rates(s, s.hits(None, 0.94, 0, True)))
        )
        lines.append(
            row(
                "verifier, trained on every category",
                ev.rates(s, s.hits("full", candidate, threshold, use_guards)),
            )
        )
        if len(points) > 1:
            lines.append(
                row(
                    "**verifier, leave-one-category-out**",
                    ev.rates(s, loco_hits(s, points, use_guards)),
                )
            )
            if use_guards:
                lines.append(
                    row(
                        "verifier without guards, leave-one-category-out",
                        ev.rates(s, loco_hits(s, alone, False)),
                    )
                )
        return "\n".join(lines)

    conv = multiturn.report(args.model, candidate, threshold, use_guards, not args.dev)
    loco_points = "\n".join(
        f"- without `{c}`: loose cosine {p[0]:.2f}, verifier >= {p[1]:.2f}"
        for c, p in points.items()
        if c != "full"
    )
    text = f"""# Semantic cache calibration

Generated by `models/cache/calibrate.py` in one run; do not edit by hand. For each pair the
first question is stored and the second asked. For same-answer kinds (`paraphrase`,
`near_repeat`) a cell is the share served (recall); for different-answer kinds (`entity`,
`negation`, `number_date`, `scope`) it is the share served (a wrong answer). "wrong (all
pairs)" = wrong answers / all pairs. Vectors: the shipped MiniLM encoder. GPTCache could not
load its own default embedding model here (no model hub), so its default similarity
evaluation is emulated on our vectors: `SearchDistanceEvaluation` with
`similarity_threshold=0.8` serves when 4 - squared L2 >= 3.2, i.e. cosine >= 0.6
(`bench/gptcache_compare.py` runs the real library on QQP the same way).

## Operating point (chosen on validation only)

Verifier `{args.model.name}`; lexical guards in front: **{"yes" if use_guards else "no"}**
(validation recall with guards {pct(options[True][2].recall)}, without
{pct(options[False][2].recall)}). Loose cosine **{candidate:.2f}**, verifier threshold
**{threshold:.2f}**: the best validation recall with wrong <= {pct(ev.MAX_WRONG_ALL)} of all
pairs and <= {pct(ev.MAX_WRONG_CATEGORY)} in every different-answer category. Validation
({val_rates.pairs} pairs): recall {pct(val_rates.recall)}, wrong {pct(val_rates.wrong_all)}.
Leave-one-category-out models, each with a point chosen without its category:
{loco_points or "- (not run: pass --loco-dir)"}

## Rule traps from held-out questions ({len(test.rows)} pairs)

{table(test)}

## Hand-written held-out traps ({len(held.rows) if held else 0} pairs, never trained on)

{HELDOUT_NOTE}

{table(held) if held is not None else "(development run)"}

## Validation ({len(val.rows)} pairs; the operating point was chosen here)

Rule pairs from MeanCache questions hashed to "val" set the point; the table also counts
{int((val.categories == "meancache").sum())} real MeanCache pairs (in recall and wrong, not
in the category cells), whose Quora labels are too noisy to set it.

{table(val)}

MeanCache pairs alone: {meancache_line(val, candidate, threshold, use_guards)}

## Multi-turn (real cache, real keys)

{conv}
"""
    if args.dev:
        print(text)
        return
    out = HERE / "CALIBRATION.md"
    out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
