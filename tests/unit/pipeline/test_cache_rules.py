"""When the pipeline reads and writes the cache: fast, with fake backends and the real cache."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.errors import BackendError
from appliance.pipeline import RequestContext
from appliance.pipeline.chat import ChatReply
from appliance.schemas import ChatCompletionRequest, ChatMessage
from appliance.security.keys import Client
from tests.unit.pipeline.fakes import Rig, Script


async def ask(
    rig: Rig,
    text: str = "What is the capital of France?",
    ctx: RequestContext | None = None,
    **fields: Any,
) -> ChatReply:
    """Ask, drain a stream, then run the after-response work (the cache write)."""
    req = ChatCompletionRequest(messages=[ChatMessage("user", text)], **fields)
    reply = await rig.pipeline.chat(req, ctx or RequestContext())
    if reply.chunks is not None:
        async for _ in reply.chunks:
            pass
    if reply.after is not None:
        await reply.after()
    return reply


@pytest.mark.parametrize("stream", [False, True])
async def test_an_answer_is_stored_after_the_response_and_a_repeat_hits(
    rig: Rig, stream: bool
) -> None:
    first = await ask(rig, stream=stream)
    assert first.headers["x-appliance-cache"] == "miss"
    second = await ask(rig, stream=stream)
    assert second.headers["x-appliance-cache"] == "hit"
    assert second.headers["x-appliance-cache-entry"] == first.headers["x-appliance-cache-entry"]
    assert sum(len(b.calls) for b in rig.backends) == 1
    assert [r[2] for r in rig.rows()] == ["miss", "hit"]


async def test_no_store_neither_reads_nor_writes(rig: Rig) -> None:
    await ask(rig)
    reply = await ask(rig, ctx=RequestContext(no_store=True))
    assert reply.headers["x-appliance-cache"] == "bypass"
    assert "x-appliance-cache-entry" not in reply.headers


async def test_no_cache_skips_the_lookup_but_stores(rig: Rig) -> None:
    await ask(rig)
    refreshed = await ask(rig, ctx=RequestContext(no_cache=True))
    assert refreshed.headers["x-appliance-cache"] == "bypass"
    hit = await ask(rig)
    assert hit.headers["x-appliance-cache"] == "hit"


async def test_a_hot_sample_is_never_cached(rig: Rig) -> None:
    await ask(rig, temperature=1.5)
    reply = await ask(rig, temperature=1.5)
    assert reply.headers["x-appliance-cache"] == "bypass"
    assert len(rig.backends[0].calls) == 2


async def test_a_stream_cut_mid_way_is_not_cached(rig: Rig) -> None:
    rig.backends[0].then(Script(text="one two three", cut_after=1))
    with pytest.raises(BackendError):
        await ask(rig, stream=True)
    reply = await ask(rig, stream=True)
    assert reply.headers["x-appliance-cache"] == "miss"


async def test_a_tool_call_answer_is_not_cached(rig: Rig) -> None:
    rig.backends[0].then(Script(tool_call=True))
    await ask(rig)
    reply = await ask(rig)
    assert reply.headers["x-appliance-cache"] == "miss"


async def test_a_private_namespace_is_not_served_to_others(rig: Rig) -> None:
    alice = Client("cl_a", "alice", "client:cl_a")
    await ask(rig, ctx=RequestContext(client=alice))
    other = await ask(rig)
    assert other.headers["x-appliance-cache"] == "miss"
    again = await ask(rig, ctx=RequestContext(client=alice))
    assert again.headers["x-appliance-cache"] == "hit"


async def test_a_hit_carries_this_requests_id(rig: Rig) -> None:
    await ask(rig)
    ctx = RequestContext()
    reply = await ask(rig, ctx=ctx)
    assert reply.body is not None and reply.body.id == ctx.request_id
    assert reply.headers["x-request-id"] == ctx.request_id


async def test_a_capped_clients_answers_are_kept_apart(rig: Rig) -> None:
    capped = Client("cl_c", "capped", "shared", max_tokens=5)
    await ask(rig, ctx=RequestContext(client=capped))
    assert (await ask(rig)).headers["x-appliance-cache"] == "miss"
    again = await ask(rig, ctx=RequestContext(client=capped))
    assert again.headers["x-appliance-cache"] == "hit"


async def test_an_answer_cut_short_by_a_default_cap_is_not_stored(rig: Rig) -> None:
    rig.backends[0].then(Script(finish="length"))
    await ask(rig)  # no max_tokens: the tier's default cut it
    assert (await ask(rig)).headers["x-appliance-cache"] == "miss"
    rig.backends[0].then(Script(finish="length"))
    await ask(rig, text="Tell me a story.", max_tokens=5)  # the client's own limit: fine
    assert (await ask(rig, text="Tell me a story.", max_tokens=5)).headers[
        "x-appliance-cache"
    ] == "hit"


async def test_an_escalated_answer_is_not_stored_under_the_pinned_model(rig: Rig) -> None:
    rig.backends[0].then(Script(fault=BackendError("fake: 500")))
    first = await ask(rig, model="local-model")
    assert first.headers["x-appliance-tier"] == "cloud"
    again = await ask(rig, model="local-model")
    assert again.headers["x-appliance-cache"] == "miss"
    assert again.headers["x-appliance-tier"] == "local"


async def test_no_cache_without_the_right_refreshes_only_the_callers_own_view(rig: Rig) -> None:
    alice = Client("cl_a", "alice", "shared")
    bob = Client("cl_b", "bob", "shared")
    original = await ask(rig, ctx=RequestContext(client=bob))
    shared_entry = original.headers["x-appliance-cache-entry"]
    rig.backends[0].then(Script(text="a poisoned answer"))
    refreshed = await ask(rig, ctx=RequestContext(client=alice, no_cache=True))
    own_entry = refreshed.headers["x-appliance-cache-entry"]
    seen_by_bob = await ask(rig, ctx=RequestContext(client=bob))
    assert seen_by_bob.headers["x-appliance-cache-entry"] == shared_entry
    assert seen_by_bob.body is not None
    assert seen_by_bob.body.choices[0].message.content == "fake answer"
    seen_by_alice = await ask(rig, ctx=RequestContext(client=alice))
    assert seen_by_alice.headers["x-appliance-cache-entry"] == own_entry


async def test_no_cache_with_the_right_refreshes_the_shared_answer(rig: Rig) -> None:
    admin = Client("cl_x", "ops", "shared", refresh_shared=True)
    await ask(rig)
    rig.backends[0].then(Script(text="a corrected answer"))
    refreshed = await ask(rig, ctx=RequestContext(client=admin, no_cache=True))
    seen = await ask(rig)
    assert seen.headers["x-appliance-cache-entry"] == refreshed.headers["x-appliance-cache-entry"]
