"""An `openai`-backend tier through a real OpenAI-compatible upstream: a second appliance."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import ServerFactory
from tests.serving import Server

PROMPT = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def gateway(local_server: Server, server_factory: ServerFactory) -> Server:
    tiers = [
        {"name": "local", "backend": "llamacpp", "model": "smollm2-135m-instruct"},
        {
            "name": "cloud",
            "backend": "openai",
            "base_url": local_server.base_url,
            "model": "smollm2-135m-instruct",
            "api_key_env": "APPLIANCE_TEST_UPSTREAM_KEY",
            "price": {"input": 0.15, "output": 0.6},
        },
    ]
    return server_factory({"tiers": tiers}, env={"APPLIANCE_TEST_UPSTREAM_KEY": "sk-test-secret"})


def test_pinned_openai_tier_goes_through_the_upstream(gateway: Server) -> None:
    with openai.OpenAI(base_url=gateway.base_url, api_key="x", max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="cloud", messages=PROMPT, max_tokens=8, temperature=0
        )
        assert raw.headers["x-appliance-tier"] == "cloud"
        assert raw.headers["x-appliance-route-reason"] == "pinned"
        completion = raw.parse()
        assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_streaming_through_the_upstream_keeps_usage(gateway: Server) -> None:
    with openai.OpenAI(base_url=gateway.base_url, api_key="x", max_retries=0) as client:
        whole = client.chat.completions.create(
            model="cloud", messages=PROMPT, max_tokens=8, temperature=0
        )
        chunks = list(
            client.chat.completions.create(
                model="cloud",
                messages=PROMPT,
                max_tokens=8,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == whole.choices[0].message.content
        assert chunks[-1].usage is not None and whole.usage is not None
        assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_secret_key_never_in_the_log(gateway: Server) -> None:
    assert "sk-test-secret" not in gateway.log()


def test_killed_upstream_escalates_down_to_local(server_factory: ServerFactory) -> None:
    upstream = server_factory()
    tiers = [
        {"name": "local", "backend": "llamacpp"},
        {
            "name": "cloud",
            "backend": "openai",
            "base_url": upstream.base_url,
            "model": "smollm2-135m-instruct",
        },
    ]
    gateway = server_factory({"tiers": tiers})
    upstream.kill()
    with openai.OpenAI(base_url=gateway.base_url, api_key="x", max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="cloud", messages=PROMPT, max_tokens=4
        )
        assert raw.headers["x-appliance-tier"] == "local"
        assert raw.headers["x-appliance-route-reason"] == "escalated:error"
