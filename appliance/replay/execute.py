"""`--execute`: send the tier-1 share of a replay to the local model for real.

It owns picking those requests and measuring the answers (latency, output size). It must not
change the audit's numbers: the table is priced from the log, this only adds a measured view
of what the cheapest tier does with the traffic it would get. The backend is the serving one
(`backends.llamacpp.LlamaCppBackend`), so chat template, token counting and errors are the
gateway's. The local model answers ~95 tokens/s on 2 cores, hence a sample (`limit`) and a
token cap rather than the whole share.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import msgspec

from appliance.errors import ApplianceError
from appliance.replay.simulate import Progress, ReplayError, Simulation
from appliance.schemas import ChatCompletionRequest, ChatMessage

DEFAULT_LIMIT = 20
DEFAULT_MAX_TOKENS = 256


def execute_tier1(
    sim: Simulation,
    assignments: list[int],
    limit: int = DEFAULT_LIMIT,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    progress: Progress | None = None,
) -> dict[str, Any]:
    tier = sim.config.tiers[0]
    if tier.backend != "llamacpp":
        raise ReplayError(
            f"--execute: tier 1 ({tier.name}) is a {tier.backend} tier; only an "
            "in-process llama.cpp tier is run for real"
        )
    share = [i for i, t in enumerate(assignments) if t == 0]
    return asyncio.run(_run(sim, share, limit, max_tokens, progress))


async def _run(
    sim: Simulation, share: list[int], limit: int, max_tokens: int, progress: Progress | None
) -> dict[str, Any]:
    from appliance.backends.llamacpp import LlamaCppBackend

    tier = sim.config.tiers[0]
    backend = LlamaCppBackend(tier)
    await backend.start()
    # One unmeasured call first: the first generation pays one-off set-up costs.
    warm = ChatCompletionRequest(messages=[ChatMessage(role="user", content="Hi")], max_tokens=1)
    await backend.chat(warm)
    picked = share[:limit]
    latencies: list[float] = []
    tokens: list[int] = []
    chars: list[int] = []
    errors: list[str] = []
    try:
        for done, index in enumerate(picked, start=1):
            req = sim.records[index].request
            cap = min(req.token_limit or max_tokens, max_tokens)
            req = msgspec.structs.replace(
                req,
                model=tier.model or tier.name,
                stream=False,
                max_tokens=cap,
                max_completion_tokens=None,
            )
            began = time.perf_counter()
            try:
                completion = await backend.chat(req)
            except ApplianceError as exc:
                errors.append(f"line {sim.records[index].line}: {exc}")
                continue
            latencies.append((time.perf_counter() - began) * 1000.0)
            tokens.append(completion.usage.completion_tokens if completion.usage else 0)
            text = completion.choices[0].message.content if completion.choices else None
            chars.append(len(text or ""))
            if progress is not None:
                progress("execute", done, len(picked))
    finally:
        await backend.close()
    return {
        "tier": tier.name,
        "share_requests": len(share),
        "executed": len(latencies),
        "max_tokens": max_tokens,
        "errors": errors,
        "latency_ms": _stats(latencies),
        "completion_tokens": _stats([float(t) for t in tokens]),
        "output_chars": _stats([float(c) for c in chars]),
        "tokens_per_s": sum(tokens) / (sum(latencies) / 1000.0) if latencies else None,
    }


def _stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {
        "mean": statistics.fmean(ordered),
        "p50": ordered[len(ordered) // 2],
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "max": ordered[-1],
    }


def render_execute(result: dict[str, Any]) -> str:
    lat, tok, size = result["latency_ms"], result["completion_tokens"], result["output_chars"]
    head = (
        f"Execute       {result['executed']} of the {result['share_requests']:,} tier-1 "
        f"requests run on {result['tier']} (max {result['max_tokens']} tokens)"
    )
    if lat is None:
        return head + f"; none answered ({len(result['errors'])} errors)"
    return "\n".join(
        [
            head,
            f"              latency p50 {lat['p50']:,.0f} ms, p95 {lat['p95']:,.0f} ms; "
            f"{result['tokens_per_s']:.0f} tokens/s",
            f"              output {tok['mean']:.0f} tokens / {size['mean']:.0f} chars mean "
            f"(max {tok['max']:.0f} tokens); {len(result['errors'])} errors",
        ]
    )
