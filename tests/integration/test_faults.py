"""Upstream faults, caused for real by a broken upstream process (tests/faultserver.py):
the client gets an escalated answer while any tier is healthy, a clear 503 when none is,
never a hang and never a 500 with a traceback."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.serving import Server, free_port

CHAT = "/chat/completions"


def tier(name: str, url: str, model: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "backend": "openai",
        "base_url": url,
        "model": model,
        "timeout_s": 2.0,
        **extra,
    }


def gateway(factory: ServerFactory, tiers: list[dict[str, Any]], **settings: Any) -> Server:
    """Cache off unless asked: a repeated request must reach the tiers again."""
    return factory({"tiers": tiers, "cache": {"enabled": False}, **settings})


def post(server: Server, model: str, **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}], **extra}
    return httpx.post(server.base_url + CHAT, json=body, timeout=30)


def assert_openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "Traceback" not in response.text
    return error


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("status-500", "escalated:http_500"),
        ("garbage", "escalated:error"),
        ("status-429", "escalated:rate_limited"),
        ("hang", "escalated:timeout"),
    ],
)
def test_fault_escalates_to_a_healthy_tier(
    server_factory: ServerFactory, fault_upstream: str, fault: str, reason: str
) -> None:
    server = gateway(
        server_factory, [tier("broken", fault_upstream, fault), tier("good", fault_upstream, "ok")]
    )
    began = time.monotonic()
    response = post(server, "broken")
    assert response.status_code == 200, response.text
    assert response.headers["x-appliance-tier"] == "good"
    assert response.headers["x-appliance-route-reason"] == reason
    assert response.json()["choices"][0]["message"]["content"] == "fault server says hi"
    assert time.monotonic() - began < 10


def test_connection_refused_escalates(server_factory: ServerFactory, fault_upstream: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    server = gateway(server_factory, [tier("dead", dead, "ok"), tier("good", fault_upstream, "ok")])
    response = post(server, "dead")
    assert response.headers["x-appliance-tier"] == "good"
    assert response.headers["x-appliance-route-reason"] == "escalated:error"


def test_no_healthy_tier_is_a_clear_503(server_factory: ServerFactory, fault_upstream: str) -> None:
    server = gateway(
        server_factory,
        [tier("a", fault_upstream, "status-500"), tier("b", fault_upstream, "garbage")],
    )
    error = assert_openai_error(post(server, "a"), 503)
    assert "a (error:http_500)" in error["message"] and "b (error:error)" in error["message"]


def test_circuit_opens_after_failures_then_probes(
    server_factory: ServerFactory, fault_upstream: str
) -> None:
    server = gateway(
        server_factory,
        [tier("broken", fault_upstream, "status-500"), tier("good", fault_upstream, "ok")],
        circuit={"failures_to_open": 2, "open_s": 1.0},
    )
    reasons = [post(server, "broken").headers["x-appliance-route-reason"] for _ in range(3)]
    assert reasons == ["escalated:http_500", "escalated:http_500", "circuit-open"]
    time.sleep(1.2)  # half-open: one probe goes to the broken tier again
    assert post(server, "broken").headers["x-appliance-route-reason"] == "escalated:http_500"
    assert post(server, "broken").headers["x-appliance-route-reason"] == "circuit-open"
    with server.admin() as admin:
        tiers = {t["name"]: t for t in admin.get("/admin/stats").json()["tiers"]}
    assert tiers["broken"]["circuit"] == "open"


def test_429_cools_a_single_backend_tier_down(
    server_factory: ServerFactory, fault_upstream: str
) -> None:
    server = gateway(
        server_factory,
        [tier("limited", fault_upstream, "status-429"), tier("good", fault_upstream, "ok")],
    )
    assert post(server, "limited").headers["x-appliance-route-reason"] == "escalated:rate_limited"
    assert post(server, "limited").headers["x-appliance-route-reason"] == "circuit-open"


def test_slow_first_token_is_waited_for(server_factory: ServerFactory, fault_upstream: str) -> None:
    server = gateway(
        server_factory,
        [
            tier("slow", fault_upstream, "slow-first", timeout_s=10.0),
            tier("good", fault_upstream, "ok"),
        ],
    )
    response = post(server, "slow", stream=True)
    assert response.status_code == 200
    assert response.headers["x-appliance-tier"] == "slow"
    assert b"says hi" in response.content and response.content.endswith(b"data: [DONE]\n\n")


def test_broken_stream_ends_with_an_error_event_and_is_not_cached(
    server_factory: ServerFactory, fault_upstream: str
) -> None:
    server = gateway(
        server_factory,
        [tier("cut", fault_upstream, "break-stream"), tier("good", fault_upstream, "ok")],
        cache={"enabled": True},
    )
    response = post(server, "cut", stream=True, temperature=0)
    assert response.status_code == 200  # the headers were already sent
    events = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert '"error"' in events[-2] and "server " in response.text
    time.sleep(0.3)
    again = post(server, "cut", stream=True, temperature=0)
    assert again.headers["x-appliance-cache"] == "miss"
    with server.admin() as admin:
        rows = admin.get("/admin/ledger").json()
    assert any(r["status"].startswith("error:") and r["stream"] for r in rows)
