"""Fuzz the running server from its own OpenAPI document (schemathesis): no 5xx ever, and
every 4xx is an OpenAI error body. Plus the hand-made nasties a generator rarely finds."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.conftest import ServerFactory
from tests.serving import Server


@pytest.fixture(scope="module")
def fuzz_server(server_factory: ServerFactory, fault_upstream: str) -> Server:
    tiers = [
        {
            "name": "cloud",
            "backend": "openai",
            "base_url": fault_upstream,
            "model": "ok",
            "max_tokens_cap": 16,
        }
    ]
    return server_factory({"tiers": tiers, "server": {"max_body_bytes": 256 * 1024}})


@pytest.fixture(scope="module")
def api_schema(fuzz_server: Server) -> Any:
    return schemathesis.openapi.from_url(fuzz_server.url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


def assert_error_body(response: Any) -> None:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_and_every_4xx_is_an_openai_error(case: Any, fuzz_server: Server) -> None:
    headers = {"authorization": f"Bearer {fuzz_server.admin_token()}"}
    response = case.call(headers=headers, timeout=30)
    assert response.status_code < 500, (case.path, response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert_error_body(response)


CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"[" * 10000 + b"]" * 10000, 400),  # deep JSON
        (b'{"messages": [{"role": "user", "content": "\xc3\x28"}]}', 400),  # invalid UTF-8
        (b'{"messages": [{"role": "user", "content": "hi"}], "n": 99999999}', 400),
        (b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 99999999999}', 400),
        (b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e400}', 400),
        (b'{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}', 400),
        (b'{"messages": [{"role": "user", "content": 5}]}', 400),
        (b'{"messages": {"role": "user"}}', 400),
        (b'"just a string"', 400),
        (b"", 400),
    ],
)
def test_nasty_bodies_get_clear_400s(fuzz_server: Server, body: bytes, status: int) -> None:
    response = httpx.post(
        fuzz_server.url + CHAT,
        content=body,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == status, response.text[:300]
    assert_error_body(response)


def test_oversized_body_is_413(fuzz_server: Server) -> None:
    big = {"messages": [{"role": "user", "content": "x" * (300 * 1024)}]}
    response = httpx.post(fuzz_server.url + CHAT, json=big, timeout=30)
    assert response.status_code == 413
    assert_error_body(response)


def test_unknown_fields_are_ignored(fuzz_server: Server) -> None:
    body = {"messages": MESSAGES, "frobnicate": {"deep": [1, 2]}, "max_tokens": 4}
    response = httpx.post(fuzz_server.url + CHAT, json=body, timeout=30)
    assert response.status_code == 200, response.text


def test_server_still_healthy_after_fuzzing(fuzz_server: Server) -> None:
    assert httpx.get(fuzz_server.url + "/readyz", timeout=5).status_code == 200
    assert "Traceback" not in fuzz_server.log()
