"""Print train.py's results as the markdown tables MODEL_CARD.md quotes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from appliance.router.calibration import OperatingPoint
from appliance.router.grouped import GroupedReport, format_grouped_table


def pooled_table(reports: dict[str, GroupedReport]) -> str:
    lines = ["| router | APGR | CPT(50%) | CPT(80%) |", "|---|---|---|---|"]
    for name, r in reports.items():
        m = r.pooled
        lines.append(f"| {name} | {m.apgr:.3f} | {m.cpt50:.1%} | {m.cpt80:.1%} |")
    return "\n".join(lines)


def curve_table(rows: Sequence[tuple[float, OperatingPoint]]) -> str:
    lines = [
        "| quality target | cut points (3 tiers) | tier shares | quality (middle = weak .. "
        "strong) | frontier share |",
        "|---|---|---|---|---|",
    ]
    for target, p in rows:
        cuts = ", ".join(f"{c:.3f}" for c in p.cut_points)
        shares = " / ".join(f"{s:.0%}" for s in p.tier_shares)
        lines.append(
            f"| {target:.3f} | {cuts} | {shares} | {p.quality_low:.3f} .. {p.quality_high:.3f} "
            f"| {p.tier_shares[-1]:.1%} |"
        )
    return "\n".join(lines)


def probe_table(probes: list[dict[str, Any]], easy_kinds: Sequence[str]) -> str:
    lines = [
        "| kind | prompt | w | head | prior | score | pct | tier |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in probes:
        text = p["prompt"] if len(p["prompt"]) <= 60 else p["prompt"][:57] + "..."
        lines.append(
            f"| {p['kind']} | {text} | {p['weight']:.2f} | {p['head']:.3f} | {p['prior']:.3f} "
            f"| {p['score']:.3f} | {p['percentile']} | {p['tier']} |"
        )
    easy = [p["score"] for p in probes if p["kind"] in easy_kinds]
    hard = [p["score"] for p in probes if p["kind"] not in (*easy_kinds, "trivial", "hard")]
    lines.append(
        f"\nopen-ended probes: mean score of {'/'.join(easy_kinds)} {np.mean(easy):.3f}, "
        f"of the reasoning kinds {np.mean(hard):.3f}"
    )
    return "\n".join(lines)


def print_report(
    subject: dict[str, GroupedReport],
    family: dict[str, GroupedReport],
    curve_rows: Sequence[tuple[float, OperatingPoint]],
    metadata: dict[str, Any],
    easy_kinds: Sequence[str],
) -> None:
    cv = metadata["grouped_cv"]
    print("\n## Subjects (and GSM8K) held out, pooled\n" + pooled_table(subject))
    print("\n## Source families held out, pooled\n" + pooled_table(family))
    print("\n## Subjects held out: APGR per group\n" + format_grouped_table(subject))
    print("\n## Subjects held out: CPT(50%) per group\n" + format_grouped_table(subject, "cpt50"))
    print("\n## Subjects held out: CPT(80%) per group\n" + format_grouped_table(subject, "cpt80"))
    print("\n## Families held out: APGR per family\n" + format_grouped_table(family))
    print(f"\nouter-fold choices: {cv['fold_params']}")
    print(f"shipped params: {metadata['model']['params']}")
    print(f"GSM8K items seen (supplementary): {cv['gsm8k_items_seen_check']}")
    print("\n## Quality/cost curve (grouped out-of-fold)\n" + curve_table(curve_rows))
    print(
        f"default cut points (target {metadata['default_quality_target']}, 3 tiers): "
        f"{metadata['default_cut_points']}"
    )
    print("\n## Out-of-domain probes\n" + probe_table(metadata["ood_probes"], easy_kinds))
