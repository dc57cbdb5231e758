"""The endpoint through the stock `openai` SDK against the real server and real local model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import openai
import pytest

from tests.serving import Server

PROMPT = [{"role": "user", "content": "Name one primary colour."}]


@pytest.fixture(scope="module")
def client(local_server: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=local_server.base_url, api_key="unused", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
async def aclient(local_server: Server) -> AsyncIterator[openai.AsyncOpenAI]:
    base_url = local_server.base_url
    async with openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0) as c:
        yield c


def test_models_list_has_auto_and_each_tier(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids[0] == "auto"
    assert "smollm2-135m-instruct" in ids


def test_chat_non_streaming_returns_text_and_usage(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=PROMPT, max_tokens=12, temperature=0
    )
    completion = raw.parse()
    assert raw.headers["x-appliance-tier"] == "local"
    assert float(raw.headers["x-appliance-overhead-ms"]) >= 0.0
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content
    assert completion.usage is not None
    assert completion.usage.prompt_tokens > 0
    assert 0 < completion.usage.completion_tokens <= 12
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_stream_and_non_stream_agree_on_text_and_usage(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(
        model="smollm2-135m-instruct", messages=PROMPT, max_tokens=16, temperature=0, seed=1
    )
    stream = client.chat.completions.create(
        model="smollm2-135m-instruct",
        messages=PROMPT,
        max_tokens=16,
        temperature=0,
        seed=1,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].choices == []
    usage = chunks[-1].usage
    assert usage is not None and whole.usage is not None
    assert text == whole.choices[0].message.content
    assert (usage.prompt_tokens, usage.completion_tokens) == (
        whole.usage.prompt_tokens,
        whole.usage.completion_tokens,
    )
    assert all(c.usage is None for c in chunks[:-1])
    assert any(c.choices and c.choices[0].finish_reason for c in chunks)


def test_stream_without_include_usage_sends_no_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(model="auto", messages=PROMPT, max_tokens=4, stream=True)
    )
    assert chunks and all(c.usage is None for c in chunks)
    assert all(c.object == "chat.completion.chunk" for c in chunks)


async def test_async_client_streams_and_completes(aclient: openai.AsyncOpenAI) -> None:
    completion = await aclient.chat.completions.create(model="auto", messages=PROMPT, max_tokens=4)
    assert completion.choices[0].message.content is not None
    stream = await aclient.chat.completions.create(
        model="auto",
        messages=PROMPT,
        max_tokens=4,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    await aclient.close()


def test_json_schema_response_format_is_enforced_locally(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"colour": {"type": "string"}},
        "required": ["colour"],
        "additionalProperties": False,
    }
    completion = client.chat.completions.create(
        model="auto",
        messages=PROMPT,
        max_tokens=40,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
    )
    import json

    value = json.loads(completion.choices[0].message.content or "")
    assert isinstance(value["colour"], str)


def test_n_choices_from_the_local_tier(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="auto", messages=PROMPT, max_tokens=6, n=2, temperature=0.9, seed=3
    )
    assert [c.index for c in completion.choices] == [0, 1]
    assert all(c.message.content for c in completion.choices)
    assert completion.usage is not None
    assert completion.usage.completion_tokens <= 12
