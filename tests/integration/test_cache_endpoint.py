"""The semantic cache through the real endpoint: hits, headers, replay, bypass, restart."""

from __future__ import annotations

import time
from typing import Any

import httpx
import numpy as np
import pytest

from appliance.cache.store import EntryStore
from appliance.embedding.encoder import Encoder
from tests.conftest import ServerFactory
from tests.serving import Server, sdk


def ask(server: Server, content: str, **extra: Any) -> httpx.Response:
    headers = extra.pop("headers", {})
    body = {
        "model": "auto",
        "messages": [{"role": "user", "content": content}],
        "max_tokens": 8,
        "temperature": 0,
        **extra,
    }
    return httpx.post(server.base_url + "/chat/completions", json=body, headers=headers, timeout=60)


def ask_until_hit(server: Server, content: str, **extra: Any) -> httpx.Response:
    """The cache write runs after the response is sent; give it a moment."""
    for _ in range(50):
        response = ask(server, content, **extra)
        if response.headers.get("x-appliance-cache") == "hit":
            return response
        time.sleep(0.05)
    return response


@pytest.fixture(scope="module")
def server(server_factory: ServerFactory) -> Server:
    return server_factory()


def test_repeat_is_served_from_cache_with_the_stored_entry_id(server: Server) -> None:
    first = ask(server, "What is the boiling point of water at sea level?")
    assert first.headers["x-appliance-cache"] == "miss"
    entry = first.headers["x-appliance-cache-entry"]
    again = ask_until_hit(server, "What is the boiling point of water at sea level?")
    assert again.headers["x-appliance-cache"] == "hit"
    assert again.headers["x-appliance-cache-entry"] == entry
    assert again.headers["x-appliance-tier"] == "cache"
    assert float(again.headers["x-appliance-cache-similarity"]) > 0.99
    assert (
        again.json()["choices"][0]["message"]["content"]
        == (first.json()["choices"][0]["message"]["content"])
    )
    assert again.json()["id"] != first.json()["id"]


def test_paraphrase_hits(server: Server) -> None:
    ask(server, "How do I reset my router password?")
    hit = ask_until_hit(server, "How can I reset my router's password?")
    assert hit.headers["x-appliance-cache"] == "hit"


def test_order_numbers_that_differ_never_hit(server: Server) -> None:
    ask(server, "What is the status of order 48213?")
    ask_until_hit(server, "What is the status of order 48213?")
    other = ask(server, "What is the status of order 48231?")
    assert other.headers["x-appliance-cache"] == "miss"


def test_negation_flip_never_hits(server: Server) -> None:
    ask(server, "How do I turn on the kitchen lights?")
    ask_until_hit(server, "How do I turn on the kitchen lights?")
    assert (
        ask(server, "How do I turn off the kitchen lights?").headers["x-appliance-cache"] == "miss"
    )


def test_other_system_prompt_or_model_never_hits(server: Server) -> None:
    ask(server, "Translate 'cat' into French.")
    ask_until_hit(server, "Translate 'cat' into French.")
    body = {
        "model": "auto",
        "max_tokens": 8,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": "Answer in German."},
            {"role": "user", "content": "Translate 'cat' into French."},
        ],
    }
    other = httpx.post(server.base_url + "/chat/completions", json=body, timeout=60)
    assert other.headers["x-appliance-cache"] == "miss"
    pinned = ask(server, "Translate 'cat' into French.", model="smollm2-135m-instruct")
    assert pinned.headers["x-appliance-cache"] == "miss"


def test_stream_hit_replays_well_formed_sse_with_usage(server: Server) -> None:
    ask(server, "Name a large planet.")
    ask_until_hit(server, "Name a large planet.")
    client = sdk(server.base_url, "x")
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "Name a large planet."}],
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert raw.headers["x-appliance-cache"] == "hit"
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    whole = ask(server, "Name a large planet.").json()
    assert text == whole["choices"][0]["message"]["content"]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason is not None
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole["usage"]["completion_tokens"]


def test_no_store_bypasses_and_no_cache_stores_without_lookup(server: Server) -> None:
    prompt = "Give me a synonym for happy."
    bypass = ask(server, prompt, headers={"cache-control": "no-store"})
    assert bypass.headers["x-appliance-cache"] == "bypass"
    assert "x-appliance-cache-entry" not in bypass.headers
    assert ask(server, prompt).headers["x-appliance-cache"] == "miss"
    ask_until_hit(server, prompt)
    fresh = ask(server, prompt, headers={"cache-control": "no-cache"})
    assert fresh.headers["x-appliance-cache"] == "bypass"
    assert fresh.headers["x-appliance-tier"] == "local"


def test_hot_temperature_is_not_cached(server: Server) -> None:
    prompt = "Write a two-word poem."
    first = ask(server, prompt, temperature=1.5)
    assert first.headers["x-appliance-cache"] == "bypass"
    time.sleep(0.3)
    assert ask(server, prompt, temperature=1.5).headers["x-appliance-cache"] == "bypass"


def test_restart_keeps_entries(server_factory: ServerFactory) -> None:
    server = server_factory()
    first = ask(server, "What colour is the sky on a clear day?")
    ask_until_hit(server, "What colour is the sky on a clear day?")
    server.stop()
    server.start()
    again = ask(server, "What colour is the sky on a clear day?")
    assert again.headers["x-appliance-cache"] == "hit"
    assert again.headers["x-appliance-cache-entry"] == first.headers["x-appliance-cache-entry"]


def test_a_new_encoder_embeds_the_stored_entries_again(server_factory: ServerFactory) -> None:
    """Stored with the fp32 encoder, restarted on the int8 build: the entry is kept (an exact
    repeat still hits) and its vector on disk is now the int8 build's vector of its text."""
    question = "Which floor is the finance team on?"
    server = server_factory({"cache": {"encoder_precision": "fp32"}})
    ask(server, question)
    assert ask_until_hit(server, question).headers["x-appliance-cache"] == "hit"
    server.stop()
    config = server.config_path.read_text()
    server.config_path.write_text(config.replace('"fp32"', '"auto"'))
    server.start()
    assert ask(server, question).headers["x-appliance-cache"] == "hit"
    server.stop()
    assert "embedding the cache again for the new encoder: 1 of 1 entries" in server.log()
    assert "(1 embedded again for this encoder)" in server.log()
    assert server.state_dir is not None
    store = EntryStore(server.state_dir / "cache" / "entries")
    try:
        (entry,) = list(store.entries())
        int8 = Encoder(threads=1)
        assert store.encoder == int8.identity
        vector = np.frombuffer(entry.vector, dtype=np.float32)
        assert np.allclose(vector, int8.encode([entry.text])[0], atol=1e-6)
    finally:
        store.close()


def test_embeddings_endpoint_serves_unit_vectors(server: Server) -> None:
    client = sdk(server.base_url, "x")
    result = client.embeddings.create(model="all-minilm-l6-v2", input=["hello", "hi there"])
    assert len(result.data) == 2 and len(result.data[0].embedding) == 384
    norm = sum(x * x for x in result.data[0].embedding) ** 0.5
    assert abs(norm - 1.0) < 1e-3
    assert result.usage.prompt_tokens > 0
    # The packaged fp32 model answers, not the cache's int8 build: a client's stored vectors
    # keep their meaning across that change.
    expected = Encoder(threads=1, precision="fp32").encode(["hello", "hi there"])
    got = np.array([d.embedding for d in result.data], dtype=np.float32)
    assert np.allclose(got, expected, atol=1e-5)
    int8 = Encoder(threads=1).encode(["hello", "hi there"])
    assert not np.allclose(got, int8, atol=1e-3)


def test_an_entry_flagged_wrong_is_dropped_and_listed(server: Server) -> None:
    question = "Which port does the staging database listen on?"
    first = ask(server, question)
    entry = first.headers["x-appliance-cache-entry"]
    assert ask_until_hit(server, question).headers["x-appliance-cache-entry"] == entry
    with server.admin() as admin:
        verdict = admin.post("/admin/cache/feedback", json={"entry": entry, "wrong": True})
        assert verdict.status_code == 200, verdict.text
        # Wrong after an exact serve: the answer itself is wrong, so the entry goes.
        assert verdict.json()["action"] == "dropped"
        flagged = admin.get("/admin/cache/flagged").json()
        unknown = admin.post("/admin/cache/feedback", json={"entry": "nope", "wrong": True})
    assert [f["entry"] for f in flagged if f["entry"] == entry] == [entry]
    assert flagged[0]["text"] == ""  # prompts stay private unless the operator opted in
    assert unknown.status_code == 404 and unknown.json()["error"]["param"] == "entry"
    assert ask(server, question).headers["x-appliance-cache"] == "miss"


def test_feedback_needs_the_admin_token(server: Server) -> None:
    response = httpx.post(
        server.url + "/admin/cache/feedback", json={"entry": "x", "wrong": True}, timeout=10
    )
    assert response.status_code == 401
