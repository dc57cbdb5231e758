"""The audit's output: the case study's before/after table, the sweep table, and JSON.

It owns wording and layout only; every number comes from a `Summary` (or a list of sweep
rows). It must not compute costs. Estimates are labelled where they are shown (latency from
assumptions, completion tokens not in the log) so nobody mistakes a guess for a measurement.
"""

from __future__ import annotations

from typing import Any

from appliance.replay.reader import Malformed
from appliance.replay.summary import CACHE_HIT_MS, Summary
from appliance.replay.sweep import SweepRow

_SHOWN_MALFORMED = 20


def _usd(value: float) -> str:
    return f"${value:,.2f}" if abs(value) >= 1 or value == 0 else f"${value:,.4f}"


def _pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def render(summary: Summary, *, source: str, fmt: str, malformed: list[Malformed]) -> str:
    s = summary
    lines = [
        f"Replay of {source} ({fmt}): {s.requests:,} requests, {len(malformed):,} malformed line(s)"
    ]
    if s.month_factor is not None and s.span_s is not None:
        lines.append(
            f"The log spans {s.span_s / 86400:.2f} days; monthly figures scale it by "
            f"{s.month_factor:.2f}x (30 days)."
        )
    else:
        lines.append(
            "No usable time span in the log (under an hour or no timestamps); "
            "'per month' assumes the log is one month (use --days to say otherwise)."
        )
    factor = s.month_factor or 1.0
    basis = (
        f"as logged for {s.logged_basis:,}, on {s.baseline_model} for "
        f"{s.requests - s.logged_basis:,}"
    )
    rows = [
        ("Cost before", _usd(s.cost_before), _usd(s.cost_before * factor), basis),
        ("Cost after", _usd(s.cost_after), _usd(s.cost_after * factor), "cache hits cost $0"),
        (
            "Saved",
            _usd(s.cost_before - s.cost_after),
            _usd((s.cost_before - s.cost_after) * factor),
            f"{s.savings_pct:.1f}%",
        ),
    ]
    lines += ["", f"{'':<14}{'this log':>14}{'per month':>14}   basis"]
    lines += [f"{a:<14}{b:>14}{c:>14}   {d}" for a, b, c, d in rows]
    lines += [
        "",
        f"Cache         hit rate {_pct(s.hits, s.requests)} "
        f"({s.hits:,} of {s.requests:,}: exact {s.hits_exact:,}, semantic "
        f"{s.hits_semantic:,}); {_bar_name(s.cache_rule)} {s.threshold:.2f}; "
        f"{s.requests - s.cacheable:,} not cacheable"
        + (f"; {s.expired:,} past the TTL" if s.expired else ""),
    ]
    routed = sum(s.tier_counts)
    lines.append(
        f"Tier mix      of the {routed:,} requests not served from cache"
        + (f" (cut points {', '.join(f'{c:.3f}' for c in s.cut_points)})" if s.cut_points else "")
    )
    for name, count, spent in zip(s.tiers, s.tier_counts, s.tier_costs, strict=True):
        lines.append(f"  {name:<20}{count:>9,}{_pct(count, routed):>8}   {_usd(spent)}")
    change = _pct(s.latency_after_ms - s.latency_before_ms, s.latency_before_ms)
    source_note = (
        f"logged for {s.latency_logged:,} requests, assumed for the rest"
        if s.latency_logged
        else "assumed per tier, see docs/replay.md"
    )
    lines.append(
        f"Latency       mean {s.latency_before_ms:,.0f} ms -> "
        f"{s.latency_after_ms:,.0f} ms ({change}; cache hit {CACHE_HIT_MS:.0f} ms; {source_note})"
    )
    kept = s.quality_kept
    if kept is not None:
        lines.append(
            f"Quality kept  {100 * kept:.1f}% ({s.routed_correct:,} of {s.labelled:,} "
            f"labelled prompts answered correctly as routed vs {s.frontier_correct:,} "
            "all-frontier)"
        )
    if s.completion_estimated:
        lines.append(
            f"Estimated     completion tokens for {s.completion_estimated:,} requests "
            f"(no usage or response logged): {s.default_completion_tokens} each"
        )
    rate = s.requests / s.elapsed_s if s.elapsed_s else 0.0
    rest = s.elapsed_s - s.embed_s
    remembered = f" ({s.remembered_texts:,} from earlier replays)" if s.remembered_texts else ""
    lines.append(
        f"Throughput    {s.requests:,} requests in {s.elapsed_s:.1f} s ({rate:,.0f} requests/s): "
        f"embedding {s.distinct_texts:,} distinct texts{remembered} {s.embed_s:.1f} s, "
        f"everything else {rest:.1f} s ({s.requests / rest if rest > 0 else 0:,.0f} requests/s)"
    )
    lines.append(f"Prices        as of {s.price_date} (shipped table + config overrides)")
    if s.router:
        lines.append(f"Router        model {s.router}")
    for note in s.notes:
        lines.append(f"Note          {note}")
    if malformed:
        shown = "; ".join(f"line {m.line}: {m.reason}" for m in malformed[:_SHOWN_MALFORMED])
        more = len(malformed) - _SHOWN_MALFORMED
        lines.append(f"Malformed     {shown}" + (f"; and {more:,} more" if more > 0 else ""))
    return "\n".join(lines)


def _bar_name(rule: str) -> str:
    return "verifier bar" if rule == "verifier" else "cosine threshold"


def render_sweep(rows: list[SweepRow]) -> str:
    """Cost vs share sent down, one row per (threshold, target share) pair."""
    rule = rows[0].summary.cache_rule if rows else "cosine"
    out = [
        "",
        f"Sweep: cache {_bar_name(rule)} x share of misses sent below the top tier "
        "(cut points at the replay's own score quantiles)",
        f"{'threshold':>9}{'target down':>13}{'actual down':>13}{'hit rate':>10}"
        f"{'cost after':>14}{'savings':>9}{'quality':>9}",
    ]
    for row in rows:
        s, kept = row.summary, row.summary.quality_kept
        target = "-" if row.target_down is None else f"{100 * row.target_down:.0f}%"
        out.append(
            f"{s.threshold:>9.2f}{target:>13}{100 * s.share_down:>12.1f}%"
            f"{_pct(s.hits, s.requests):>10}{_usd(s.cost_after):>14}{s.savings_pct:>8.1f}%"
            f"{(f'{100 * kept:.1f}%' if kept is not None else '-'):>9}"
        )
    return "\n".join(out)


def to_json(
    summary: Summary,
    *,
    source: str,
    fmt: str,
    malformed: list[Malformed],
    sweep: list[SweepRow] | None = None,
    execute: dict[str, Any] | None = None,
) -> dict[str, Any]:
    def flat(s: Summary) -> dict[str, Any]:
        return {
            "requests": s.requests,
            "threshold": s.threshold,
            "cache_rule": s.cache_rule,
            "cacheable": s.cacheable,
            "hits": s.hits,
            "hits_exact": s.hits_exact,
            "hits_semantic": s.hits_semantic,
            "hit_rate": s.hits / s.requests if s.requests else 0.0,
            "expired": s.expired,
            "tiers": [
                {"name": n, "requests": c, "cost_usd": u}
                for n, c, u in zip(s.tiers, s.tier_counts, s.tier_costs, strict=True)
            ],
            "share_down": s.share_down,
            "cut_points": s.cut_points,
            "cost_before_usd": s.cost_before,
            "cost_after_usd": s.cost_after,
            "savings_pct": s.savings_pct,
            "month_factor": s.month_factor,
            "monthly_before_usd": s.cost_before * (s.month_factor or 1.0),
            "monthly_after_usd": s.cost_after * (s.month_factor or 1.0),
            "span_s": s.span_s,
            "priced_as_logged": s.logged_basis,
            "baseline_model": s.baseline_model,
            "price_date": s.price_date,
            "latency_before_ms": s.latency_before_ms,
            "latency_after_ms": s.latency_after_ms,
            "latency_logged": s.latency_logged,
            "completion_estimated": s.completion_estimated,
            "default_completion_tokens": s.default_completion_tokens,
            "quality": None
            if s.quality_kept is None
            else {
                "labelled": s.labelled,
                "frontier_correct": s.frontier_correct,
                "routed_correct": s.routed_correct,
                "kept": s.quality_kept,
            },
            "single_tier": s.single_tier,
            "router": s.router or None,
            "elapsed_s": s.elapsed_s,
            "embed_s": s.embed_s,
            "remembered_texts": s.remembered_texts,
            "distinct_texts": s.distinct_texts,
            "requests_per_s": s.requests / s.elapsed_s if s.elapsed_s else None,
            "notes": s.notes,
        }

    result: dict[str, Any] = {
        "source": source,
        "format": fmt,
        **flat(summary),
        "malformed": [{"line": m.line, "reason": m.reason} for m in malformed],
    }
    if sweep is not None:
        result["sweep"] = [{"target_down": r.target_down, **flat(r.summary)} for r in sweep]
    if execute is not None:
        result["execute"] = execute
    return result
