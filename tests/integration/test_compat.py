"""What an OpenAI-compatible upstream receives, and how its answers come back: a gateway
whose upstream tiers point at tests/recorder.py, which keeps every body it is sent."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import ServerFactory
from tests.serving import Server

NO_STORE = {"cache-control": "no-store"}
TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}


@pytest.fixture(scope="module")
def gateway(server_factory: ServerFactory, recorder: str) -> Server:
    def upstream(name: str, model: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "backend": "openai", "base_url": recorder, "model": model, **extra}

    tiers = [
        {"name": "local", "backend": "llamacpp", "model": "smollm2-135m-instruct"},
        upstream("cloud", "upstream-model", drop_fields=["store"], max_tokens_cap=50, vision=True),
        upstream("rejecting", "reject"),
        upstream("slow", "slow-stream"),
    ]
    return server_factory({"tiers": tiers})


@pytest.fixture
def sdk() -> Iterator[Callable[..., openai.OpenAI]]:
    """Stock SDK clients, closed after the test (an open socket is an error here)."""
    made: list[openai.OpenAI] = []

    def make(server: Server, **options: Any) -> openai.OpenAI:
        made.append(openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, **options))
        return made[-1]

    yield make
    for client in made:
        client.close()


def recorded(recorder: str) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = httpx.get(recorder.removesuffix("/v1") + "/recorded").json()
    return [entry["body"] for entry in bodies]


def forget(recorder: str) -> None:
    httpx.delete(recorder.removesuffix("/v1") + "/recorded")


@pytest.mark.compat("openai SDK", "pass-through of every client field", "openai-compatible")
def test_upstream_receives_the_clients_body(
    sdk: Callable[..., openai.OpenAI], gateway: Server, recorder: str
) -> None:
    forget(recorder)
    messages: list[Any] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Look it up."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "found"},
    ]
    sent: dict[str, Any] = {
        "reasoning_effort": "low",
        "metadata": {"team": "search"},
        "service_tier": "flex",
        "tools": [TOOL],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "logprobs": True,
        "top_logprobs": 2,
        "seed": 7,
        "user": "u-1",
    }
    vendor = {"top_k": 20, "chat_template_kwargs": {"enable_thinking": False}, "store": True}
    client = sdk(gateway)
    raw = client.chat.completions.with_raw_response.create(
        model="cloud", messages=messages, max_completion_tokens=500, extra_body=vendor, **sent
    )
    assert raw.headers["x-appliance-tier"] == "cloud"
    assert raw.headers["x-request-id"] == raw.parse().id
    (body,) = recorded(recorder)
    assert body["model"] == "upstream-model"
    assert body["messages"] == messages  # unchanged, `content: null` included
    for name, value in {**sent, **vendor}.items():
        if name != "store":
            assert body[name] == value, name
    assert "store" not in body  # the tier's drop_fields
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body  # capped, same field


@pytest.mark.compat("openai SDK", "stream pass-through, usage always asked", "openai-compatible")
def test_stream_keeps_client_fields_and_asks_for_usage(
    sdk: Callable[..., openai.OpenAI], gateway: Server, recorder: str
) -> None:
    forget(recorder)
    client = sdk(gateway)
    chunks = list(
        client.chat.completions.create(
            model="cloud",
            messages=[{"role": "user", "content": "Hi"}],
            stream=True,
            extra_body={"top_k": 3},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "recorded"
    assert all(c.usage is None for c in chunks)  # the client did not ask for it
    (body,) = recorded(recorder)
    assert body["top_k"] == 3 and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_an_unknown_field_is_part_of_the_cache_scope(
    sdk: Callable[..., openai.OpenAI], gateway: Server, recorder: str
) -> None:
    forget(recorder)
    client = sdk(gateway)
    ask = [{"role": "user", "content": "Which answer changes with top_k?"}]
    states = []
    for top_k in (5, 5, 9):
        raw = client.chat.completions.with_raw_response.create(
            model="cloud", messages=ask, extra_body={"top_k": top_k}
        )
        states.append(raw.headers["x-appliance-cache"])
        time.sleep(0.3)  # the cache write runs after the response
    assert states == ["miss", "hit", "miss"]
    assert [b["top_k"] for b in recorded(recorder)] == [5, 9]


@pytest.mark.compat("openai SDK", "upstream 400 is a 400, not escalated", "openai-compatible")
def test_an_upstream_400_is_the_clients_error(
    sdk: Callable[..., openai.OpenAI], gateway: Server, recorder: str
) -> None:
    forget(recorder)
    client = sdk(gateway, default_headers=NO_STORE)
    for _ in range(4):  # more than the circuit's failures_to_open
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(
                model="rejecting", messages=[{"role": "user", "content": "x"}]
            )
        assert "rejects the request" in caught.value.message
    assert len(recorded(recorder)) == 4  # every one reached the upstream: the circuit is shut


def test_closing_a_stream_closes_the_upstream(gateway: Server, recorder: str) -> None:
    root = recorder.removesuffix("/v1")
    before = httpx.get(f"{root}/disconnects").json()
    body = {"model": "slow", "messages": [{"role": "user", "content": "tick"}], "stream": True}
    with (
        httpx.Client(base_url=gateway.url, timeout=30) as http,
        http.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        lines = response.iter_lines()
        assert next(line for line in lines if line.startswith("data:"))
    deadline = time.monotonic() + 10
    while httpx.get(f"{root}/disconnects").json() == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert httpx.get(f"{root}/disconnects").json() == before + 1


@pytest.mark.compat("openai SDK", "model by id (GET /v1/models/<id>)", "any")
def test_model_by_id(sdk: Callable[..., openai.OpenAI], gateway: Server) -> None:
    client = sdk(gateway)
    model = client.models.retrieve("upstream-model")
    assert model.id == "upstream-model" and model.owned_by == "tier:cloud"
    assert client.models.retrieve("auto").id == "auto"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


@pytest.mark.compat("openai SDK", "image parts go to a vision tier", "openai-compatible")
def test_images_go_to_a_tier_that_reads_them(
    sdk: Callable[..., openai.OpenAI], gateway: Server, recorder: str
) -> None:
    forget(recorder)
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    content = [{"type": "text", "text": "What is this?"}, image]
    client = sdk(gateway, default_headers=NO_STORE)
    raw = client.chat.completions.with_raw_response.create(
        model="local", messages=[{"role": "user", "content": content}]
    )
    assert raw.headers["x-appliance-tier"] == "cloud"  # the pinned local tier cannot see it
    assert raw.headers["x-appliance-route-reason"] == "vision"
    assert recorded(recorder)[0]["messages"][0]["content"] == content  # not stripped


@pytest.mark.compat("openai SDK", "image parts without a vision tier: 400", "local")
def test_an_image_with_no_vision_tier_is_refused(
    sdk: Callable[..., openai.OpenAI], local_server: Server
) -> None:
    client = sdk(local_server)
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": [image]}]
        )
    assert "vision" in caught.value.message and "image_url" in caught.value.message


@pytest.mark.compat("LangChain OpenAIEmbeddings", "default (token arrays)", "embeddings")
def test_langchain_embeddings_send_token_arrays(
    sdk: Callable[..., openai.OpenAI],
    local_server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """LangChain's default tokenizes with tiktoken's cl100k_base; offline, tiktoken reads the
    vocabulary from its cache, seeded here from the copy the appliance ships with."""
    import gzip

    from langchain_openai import OpenAIEmbeddings

    from appliance.api.tokens import vocabulary_file

    shipped = vocabulary_file()
    assert shipped is not None
    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    cached = tmp_path / hashlib.sha1(url.encode()).hexdigest()
    cached.write_bytes(gzip.decompress(shipped.read_bytes()))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    common: dict[str, Any] = {"api_key": "x", "model": "all-minilm-l6-v2"}
    embedder = OpenAIEmbeddings(client=sdk(local_server).embeddings, **common)
    as_tokens = embedder.embed_documents(["The cat sat on the mat."])[0]
    text = OpenAIEmbeddings(
        client=sdk(local_server).embeddings, check_embedding_ctx_length=False, **common
    ).embed_documents(["The cat sat on the mat."])[0]
    assert len(as_tokens) == 384
    assert max(abs(a - b) for a, b in zip(as_tokens, text, strict=True)) < 1e-5


def test_token_ids_outside_the_vocabulary_name_the_fix(local_server: Server) -> None:
    answer = httpx.post(
        f"{local_server.base_url}/embeddings", json={"input": [[10**7]]}, timeout=30
    )
    assert answer.status_code == 400
    assert "check_embedding_ctx_length=False" in answer.json()["error"]["message"]
