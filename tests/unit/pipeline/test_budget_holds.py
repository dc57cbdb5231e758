"""Budgets hold under concurrency: each paid attempt holds its worst case first, so a client
overshoots by at most one request's worst case, on every endpoint that spends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appliance.errors import BudgetExceeded
from appliance.pipeline import RequestContext
from appliance.schemas import ChatCompletionRequest, ChatMessage, CompletionRequest
from appliance.security.keys import Client
from tests.unit.pipeline.fakes import Script, make_rig

# A frontier-only client: $10 per 1M tokens in and out (fakes.make_rig prices).
FRONTIER = 0.95


async def _chat(rig, client: Client, max_tokens: int) -> bool:  # type: ignore[no-untyped-def]
    req = ChatCompletionRequest(
        messages=[ChatMessage("user", "What is the capital of France?")],
        max_tokens=max_tokens,
        temperature=1.0,  # not cacheable: every request is a paid call
    )
    try:
        await rig.pipeline.chat(req, RequestContext(client=client))
    except BudgetExceeded:
        return False
    return True


async def test_forty_concurrent_requests_get_at_most_one_worst_case_over(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, score=FRONTIER)
    rig.backends[2].then(*[Script(delay_s=0.02) for _ in range(40)])
    # Worst case per request: (prompt ~12 + 100) tokens x $10/1M ~= $0.00112.
    client = Client("cl_1", "alice", "shared", budget_usd_month=0.004)
    answered = await asyncio.gather(*[_chat(rig, client, 100) for _ in range(40)])
    assert 3 <= sum(answered) <= 4
    spent = rig.pipeline.accounting.budgets.spent(client.id)
    assert spent == pytest.approx(sum(r.cost_usd for r in rig.ledger.rows()))
    assert rig.pipeline.accounting.budgets.is_exhausted(client) or sum(answered) == 4
    assert rig.pipeline.accounting.budgets.held(client.id) == 0.0  # type: ignore[attr-defined]


async def test_text_completions_respect_the_budget(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, n_tiers=1, prices=[10.0])
    client = Client("cl_1", "bob", "shared", budget_usd_month=0.0005)
    req = CompletionRequest(prompt="Once upon a time", max_tokens=16, model="local-model")
    answered = 0
    for _ in range(15):
        try:
            await rig.pipeline.text(req, RequestContext(client=client))
            answered += 1
        except BudgetExceeded:
            pass
    # Each costs ~(8 + 3) tokens x $10/1M ~= $0.00011; the hold is (8 + 16) x $10/1M.
    assert 3 <= answered <= 5
    assert rig.pipeline.accounting.budgets.spent(client.id) <= 0.0005 + 24 * 10 / 1e6


async def test_cap_mode_keeps_an_over_budget_client_on_free_tiers(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, score=FRONTIER, on_budget_exceeded="cap")
    client = Client("cl_1", "carol", "shared", budget_usd_month=0.0002)
    tiers = []
    for _ in range(6):
        req = ChatCompletionRequest(
            messages=[ChatMessage("user", "hello")], max_tokens=100, temperature=1.0
        )
        reply = await rig.pipeline.chat(req, RequestContext(client=client))
        tiers.append(reply.headers["x-appliance-tier"])
    assert tiers[0] == "frontier" and tiers[-1] == "local"
    assert "budget-cap" in {r.route_reason for r in rig.ledger.rows()}
