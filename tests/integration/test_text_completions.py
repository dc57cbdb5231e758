"""Legacy `/v1/completions` through the stock SDK: the local tier, an upstream tier, streams,
usage in the ledger, errors."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import ServerFactory
from tests.serving import Server

PROMPT = "The three primary colours are"


@pytest.fixture(scope="module")
def gateway(local_server: Server, server_factory: ServerFactory) -> Server:
    tiers = [
        {"name": "local", "backend": "llamacpp", "model": "local-small"},
        {
            "name": "cloud",
            "backend": "openai",
            "base_url": local_server.base_url,
            "model": "smollm2-135m-instruct",
            "price": {"input": 1.0, "output": 2.0},
        },
    ]
    return server_factory({"tiers": tiers})


def test_local_text_completion_with_usage(gateway: Server) -> None:
    with openai.OpenAI(base_url=gateway.base_url, api_key="x", max_retries=0) as client:
        raw = client.completions.with_raw_response.create(
            model="auto", prompt=PROMPT, max_tokens=6, temperature=0
        )
        completion = raw.parse()
        assert raw.headers["x-appliance-tier"] == "local"
        assert completion.object == "text_completion"
        assert completion.choices[0].text
        assert completion.usage is not None and 0 < completion.usage.completion_tokens <= 6


def test_stream_and_whole_agree_through_an_upstream_tier(gateway: Server) -> None:
    with openai.OpenAI(base_url=gateway.base_url, api_key="x", max_retries=0) as client:
        whole = client.completions.create(
            model="smollm2-135m-instruct", prompt=PROMPT, max_tokens=6, temperature=0
        )
        chunks = list(
            client.completions.create(
                model="smollm2-135m-instruct",
                prompt=PROMPT,
                max_tokens=6,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text
        assert chunks[-1].usage is not None and whole.usage is not None
        assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
        with gateway.admin() as admin:
            rows = [r for r in admin.get("/admin/ledger").json() if r["tier"] == "cloud"]
        assert len(rows) == 2 and rows[0]["cost_usd"] == pytest.approx(rows[1]["cost_usd"])
        assert rows[0]["cost_usd"] > 0


def test_empty_prompt_is_a_400(gateway: Server) -> None:
    response = httpx.post(gateway.base_url + "/completions", json={"prompt": ""}, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "prompt"
