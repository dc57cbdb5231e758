"""Output discipline: answers that fail the requested JSON schema escalate, then error out
clearly; the stock SDK's `parse()` gets a typed object from the local model's grammar."""

from __future__ import annotations

from typing import Any, Literal

import httpx
import openai
import pytest
from pydantic import BaseModel

from tests.conftest import ServerFactory
from tests.serving import Server

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"enum": ["yes", "no"]}},
    "required": ["answer"],
    "additionalProperties": False,
}
FORMAT = {"type": "json_schema", "json_schema": {"name": "place", "schema": SCHEMA}}
ASK = [{"role": "user", "content": "Is Paris the capital of France? Answer in JSON."}]


def text_tier(name: str, url: str) -> dict[str, Any]:
    return {"name": name, "backend": "openai", "base_url": url, "model": "ok"}


@pytest.fixture(scope="module")
def escalating(server_factory: ServerFactory, fault_upstream: str) -> Server:
    tiers = [
        text_tier("sloppy", fault_upstream),
        {"name": "local", "backend": "llamacpp", "model": "smollm2-135m-instruct"},
    ]
    return server_factory({"tiers": tiers, "cache": {"enabled": False}})


def test_schema_violation_escalates_to_a_tier_that_complies(escalating: Server) -> None:
    with openai.OpenAI(base_url=escalating.base_url, api_key="x", max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="sloppy", messages=ASK, response_format=FORMAT, max_tokens=60, temperature=0
        )
        assert raw.headers["x-appliance-route-reason"] == "escalated:invalid_output"
        assert raw.headers["x-appliance-tier"] == "local"
        import json

        assert json.loads(raw.parse().choices[0].message.content or "")["answer"] in ("yes", "no")
        with escalating.admin() as admin:
            rows = [
                r
                for r in admin.get("/admin/ledger").json()
                if r["request_id"] == raw.headers["x-request-id"]
            ]
        assert [r["status"] for r in rows] == ["error:invalid_output", "ok"]
        assert rows[0]["completion_tokens"] > 0  # the failed attempt's tokens are counted


def test_no_tier_complies_is_a_clear_error_not_a_bad_answer(
    server_factory: ServerFactory, fault_upstream: str
) -> None:
    server = server_factory(
        {
            "tiers": [text_tier("a", fault_upstream), text_tier("b", fault_upstream)],
            "cache": {"enabled": False},
        }
    )
    body = {"model": "a", "messages": ASK, "response_format": FORMAT}
    response = httpx.post(server.base_url + "/chat/completions", json=body, timeout=30)
    assert response.status_code == 502
    error = response.json()["error"]
    assert "format" in error["message"] and "fault server" not in response.text


def test_streamed_structured_output_is_validated_before_it_is_sent(escalating: Server) -> None:
    with openai.OpenAI(base_url=escalating.base_url, api_key="x", max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="sloppy",
            messages=ASK,
            response_format=FORMAT,
            max_tokens=60,
            temperature=0,
            stream=True,
        )
        assert raw.headers["x-appliance-tier"] == "local"
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
        import json

        assert json.loads(text)["answer"] in ("yes", "no")


class Verdict(BaseModel):
    # Enumerations keep a 135M-parameter model's grammar-forced answer short; free-text
    # strings let it ramble to the token limit (and that truncated answer is rejected).
    colour: Literal["red", "green", "blue"]
    certain: bool


def test_sdk_parse_returns_a_typed_object(local_server: Server) -> None:
    with openai.OpenAI(base_url=local_server.base_url, api_key="x", max_retries=0) as client:
        completion = client.chat.completions.parse(
            model="auto",
            response_format=Verdict,
            max_tokens=40,
            temperature=0,
            messages=[{"role": "user", "content": "What colour is a ripe tomato?"}],
        )
        parsed = completion.choices[0].message.parsed
        assert isinstance(parsed, Verdict)
        assert parsed.colour in ("red", "green", "blue")


def test_invalid_schema_is_rejected_up_front(local_server: Server) -> None:
    body = {
        "messages": ASK,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "x",
                "schema": {"type": "object", "properties": {"a": {"type": "nonsense"}}},
            },
        },
    }
    response = httpx.post(local_server.base_url + "/chat/completions", json=body, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "response_format"
