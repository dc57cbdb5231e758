"""The escalation table, in milliseconds: each tier fault x chat / stream / text / text stream,
client errors, invalid output, budgets. Fake backends (tests/unit/pipeline/fakes.py); the
cache, ledger and billing are the real ones on a temp dir."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from appliance.errors import (
    BackendError,
    BackendUnavailable,
    BudgetExceeded,
    InvalidOutput,
    InvalidRequest,
)
from appliance.pipeline import RequestContext
from appliance.schemas import ChatCompletionRequest, ChatMessage, CompletionRequest
from appliance.security.keys import Client
from tests.unit.pipeline.fakes import FAULTS, Rig, Script, make_rig

MODES = ["chat", "chat-stream", "text", "text-stream"]


def _chat(stream: bool = False, **fields: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest(
        messages=[ChatMessage("user", fields.pop("text", "What is the capital of France?"))],
        stream=stream,
        **fields,
    )


async def _drain(chunks: AsyncIterator[Any] | None) -> list[Any]:
    assert chunks is not None
    return [c async for c in chunks]


async def ask(rig: Rig, mode: str, ctx: RequestContext | None = None, **fields: Any) -> Any:
    """One request in `mode`; streams are drained. Returns the reply."""
    ctx = ctx or RequestContext()
    if mode.startswith("chat"):
        reply = await rig.pipeline.chat(_chat(stream=mode.endswith("stream"), **fields), ctx)
    else:
        req = CompletionRequest(prompt="Once upon a time", stream=mode.endswith("stream"))
        reply = await rig.pipeline.text(req, ctx)
    if reply.chunks is not None:
        await _drain(reply.chunks)
    return reply


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", sorted(FAULTS))
async def test_a_tier_fault_escalates_to_the_next_tier(rig: Rig, mode: str, kind: str) -> None:
    rig.backends[0].then(Script(fault=FAULTS[kind]))
    reply = await ask(rig, mode)
    assert reply.headers["x-appliance-tier"] == "cloud"
    assert reply.headers["x-appliance-route-reason"] == f"escalated:{kind}"
    assert [r[:2] for r in rig.rows()] == [("local", f"error:{kind}"), ("cloud", "ok")]
    circuit = rig.tiers[0].circuit
    # A 429 opens the circuit at once for its Retry-After; other faults count towards it.
    assert circuit.state == ("open" if kind == "rate_limited" else "closed")
    assert len(rig.backends[1].calls) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_an_empty_stream_or_answer_fault_escalates(rig: Rig, mode: str) -> None:
    rig.backends[0].then(Script(empty=True) if "stream" in mode else Script(fault=FAULTS["error"]))
    reply = await ask(rig, mode)
    assert reply.headers["x-appliance-tier"] == "cloud"
    expected = "escalated:empty_stream" if "stream" in mode else "escalated:error"
    assert reply.headers["x-appliance-route-reason"] == expected


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_error_is_returned_not_escalated(rig: Rig, mode: str) -> None:
    rig.backends[0].then(Script(reject="bad tool schema"))
    with pytest.raises(InvalidRequest, match="bad tool schema"):
        await ask(rig, mode)
    assert rig.backends[1].calls == []
    circuit = rig.tiers[0].circuit
    assert circuit.state == "closed" and circuit.failures == 0


@pytest.mark.parametrize("mode", MODES)
async def test_no_tier_left_is_a_503_and_every_attempt_is_a_ledger_row(rig: Rig, mode: str) -> None:
    for backend in rig.backends:
        backend.then(Script(fault=FAULTS["error"]))
    with pytest.raises(BackendUnavailable, match=r"local .*cloud .*frontier"):
        await ask(rig, mode)
    assert [r[:2] for r in rig.rows()] == [
        ("local", "error:error"),
        ("cloud", "error:error"),
        ("frontier", "error:error"),
    ]


@pytest.mark.parametrize("mode", ["chat-stream", "text-stream"])
async def test_a_stream_cut_after_its_first_chunk_ends_in_an_error_not_a_new_tier(
    rig: Rig, mode: str
) -> None:
    rig.backends[0].then(Script(text="one two three four", cut_after=2))
    ctx = RequestContext()
    if mode == "chat-stream":
        reply = await rig.pipeline.chat(_chat(stream=True), ctx)
    else:
        reply = await rig.pipeline.text(CompletionRequest(prompt="x", stream=True), ctx)
    received = []
    with pytest.raises(BackendError, match="cut"):
        assert reply.chunks is not None
        async for chunk in reply.chunks:
            received.append(chunk)
    assert len(received) == 2
    assert rig.backends[1].calls == []
    assert [r[:2] for r in rig.rows()] == [("local", "error:error")]
    assert rig.tiers[0].circuit.failures == 1


async def test_an_answer_in_the_wrong_format_escalates_once_then_fails(rig: Rig) -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}}
    rig.backends[0].then(Script(text="not json"))
    rig.backends[1].then(Script(text='{"ok": true}'))
    reply = await ask(rig, "chat", response_format=schema)
    assert reply.headers["x-appliance-route-reason"] == "escalated:invalid_output"
    assert reply.body.choices[0].message.content == '{"ok": true}'

    rig.backends[1].then(Script(text="still not json"))
    rig.backends[2].then(Script(text="never asked"))
    rig.backends[0].then(Script(text="nope"))
    with pytest.raises(InvalidOutput, match="format"):
        await ask(rig, "chat", response_format=schema, text="another question")
    assert len(rig.backends[2].calls) == 0  # a second invalid answer stops the cascade


async def test_an_invalid_answer_is_still_billed(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, prices=[1.0, 1.0, 1.0])
    schema = {"type": "json_object"}
    rig.backends[0].then(Script(text="not json"))
    rig.backends[1].then(Script(text="{}"))
    await ask(rig, "chat", response_format=schema)
    first = rig.ledger.rows()[0]
    assert first.status == "error:invalid_output" and first.cost_usd > 0


async def test_an_exhausted_budget_is_rejected_before_any_call(rig: Rig) -> None:
    client = Client("cl_1", "alice", "shared", budget_usd_month=1.0)
    rig.pipeline.accounting.budgets.add(client.id, 1.0)
    for mode in MODES:
        with pytest.raises(BudgetExceeded, match="alice"):
            await ask(rig, mode, RequestContext(client=client))
    assert all(b.calls == [] for b in rig.backends)


async def test_an_exhausted_budget_in_cap_mode_keeps_to_free_tiers(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, on_budget_exceeded="cap", score=0.95)  # routed to frontier
    client = Client("cl_1", "alice", "shared", budget_usd_month=1.0)
    rig.pipeline.accounting.budgets.add(client.id, 1.0)
    reply = await ask(rig, "chat", RequestContext(client=client))
    assert reply.headers["x-appliance-tier"] == "local"
    assert reply.headers["x-appliance-route-reason"] == "budget-cap"


async def test_spend_moves_the_budget_after_each_answer(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, score=0.95)  # frontier, $10 per 1M tokens
    client = Client("cl_1", "alice", "shared", budget_usd_month=100.0)
    await ask(rig, "chat", RequestContext(client=client))
    spent = rig.pipeline.accounting.budgets.spent(client.id)
    assert spent == pytest.approx(rig.ledger.rows()[0].cost_usd) and spent > 0


async def test_the_router_score_picks_the_starting_tier(tmp_path: Path) -> None:
    for score, tier in [(0.1, "local"), (0.6, "cloud"), (0.9, "frontier")]:
        rig = make_rig(tmp_path / str(score), score=score)
        reply = await ask(rig, "chat")
        assert reply.headers["x-appliance-tier"] == tier
        assert reply.headers["x-appliance-route-score"] == f"{score:.4f}"
        assert reply.headers["x-appliance-route-reason"] == "score"


async def test_a_pinned_model_keeps_its_tier(rig: Rig) -> None:
    reply = await ask(rig, "chat", model="frontier-model")
    assert reply.headers["x-appliance-tier"] == "frontier"
    assert reply.headers["x-appliance-route-reason"] == "pinned"
    assert "x-appliance-route-score" not in reply.headers


async def test_a_busy_local_model_spills_up_or_refuses_when_alone(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, local_backend="llamacpp")
    rig.backends[0].queued = 20  # past router.spill_queue_depth (16)
    reply = await ask(rig, "chat")
    assert reply.headers["x-appliance-tier"] == "cloud"
    assert reply.headers["x-appliance-route-reason"] == "spill:queue"
    alone = make_rig(tmp_path / "alone", n_tiers=1, local_backend="llamacpp")
    alone.backends[0].queued = 64  # limits.local_queue_max
    with pytest.raises(BackendUnavailable, match="busy"):
        await ask(alone, "chat")
    alone.backends[0].queued = 63
    assert (await ask(alone, "chat")).headers["x-appliance-tier"] == "local"
