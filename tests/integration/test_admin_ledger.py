"""Ledger, keys, budgets and the admin API through the real server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ServerFactory
from tests.serving import Server, sdk

PRICE = {"input": 2.5, "output": 10.0}
PROMPT = [{"role": "user", "content": "Count from one to five."}]


@pytest.fixture(scope="module")
def priced(local_server: Server, server_factory: ServerFactory) -> Server:
    """One priced 'cloud' tier whose upstream is another appliance."""
    tiers = [
        {
            "name": "cloud",
            "backend": "openai",
            "base_url": local_server.base_url,
            "model": "smollm2-135m-instruct",
            "price": PRICE,
        }
    ]
    return server_factory({"tiers": tiers, "cache": {"enabled": False}})


def ledger_rows(server: Server, since: float = 0.0) -> list[dict]:
    with server.admin() as admin:
        response = admin.get("/admin/ledger", params={"since": since})
    assert response.status_code == 200, response.text
    return response.json()


def expected_cost(prompt_tokens: int, completion_tokens: int) -> float:
    return (prompt_tokens * PRICE["input"] + completion_tokens * PRICE["output"]) / 1e6


def test_ledger_totals_equal_the_usage_clients_received_in_both_modes(priced: Server) -> None:
    since = time.time() - 1
    client = sdk(priced.base_url, "x")
    seen = []
    for i in range(3):
        whole = client.chat.completions.create(model="auto", messages=PROMPT, max_tokens=6 + i)
        assert whole.usage is not None
        seen.append((whole.usage.prompt_tokens, whole.usage.completion_tokens))
        chunks = list(
            client.chat.completions.create(
                model="auto",
                messages=PROMPT,
                max_tokens=6 + i,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        usage = chunks[-1].usage
        assert usage is not None
        seen.append((usage.prompt_tokens, usage.completion_tokens))
    rows = ledger_rows(priced, since)
    assert len(rows) == 6
    assert sum(r["prompt_tokens"] for r in rows) == sum(p for p, _ in seen)
    assert sum(r["completion_tokens"] for r in rows) == sum(c for _, c in seen)
    total = sum(r["cost_usd"] for r in rows)
    assert total == pytest.approx(sum(expected_cost(p, c) for p, c in seen), rel=1e-9)
    streamed = [r for r in rows if r["stream"]]
    plain = [r for r in rows if not r["stream"]]
    assert sum(r["cost_usd"] for r in streamed) == pytest.approx(
        sum(r["cost_usd"] for r in plain), rel=1e-9
    )
    assert all(not r["estimated"] for r in rows)


def test_admin_refuses_without_or_with_a_wrong_token(priced: Server) -> None:
    for path in ("/admin/stats", "/admin/config", "/admin/ledger", "/admin/recent"):
        assert httpx.get(priced.url + path, timeout=10).status_code == 401
        wrong = httpx.get(priced.url + path, headers={"authorization": "Bearer nope"}, timeout=10)
        assert wrong.status_code == 401
        assert set(wrong.json()["error"]) == {"message", "type", "param", "code"}
    assert (
        httpx.patch(priced.url + "/admin/config", json={"cache_threshold": 0.5}).status_code == 401
    )


def test_admin_token_file_is_private(priced: Server) -> None:
    assert priced.state_dir is not None
    assert (priced.state_dir / "admin_token").stat().st_mode & 0o777 == 0o600


def test_stats_match_the_ledger(priced: Server) -> None:
    rows = ledger_rows(priced)
    with priced.admin() as admin:
        stats = admin.get("/admin/stats").json()
    assert stats["spend"]["month"]["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in rows))
    assert stats["spend"]["today"]["requests"] == len({r["request_id"] for r in rows})
    assert stats["system"]["ram_total_bytes"] > 0
    assert stats["system"]["gpu_error"]  # no GPU here, said plainly
    assert stats["ledger"]["ok"] is True


def test_metrics_parse_and_count_requests(priced: Server) -> None:
    text = httpx.get(priced.url + "/metrics", timeout=10).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    total = sum(
        s.value
        for s in families["appliance_requests"].samples
        if s.name == "appliance_requests_total"
    )
    assert total >= 6
    assert (
        "appliance_overhead_seconds" in families or "appliance_request_latency_seconds" in families
    )
    # Where the encoder runs; this CI box has no GPU, so it must say the CPU, and on the CPU
    # the default runs the int8 build (built and checked against the reference vectors).
    (encoder,) = families["appliance_encoder_info"].samples
    assert encoder.labels == {"device": "cpu", "precision": "int8"}


def test_config_patch_applies_now_and_survives_restart(server_factory: ServerFactory) -> None:
    server = server_factory()
    with server.admin() as admin:
        bad = admin.patch("/admin/config", json={"cache_threshold": 7})
        assert bad.status_code == 400 and "cache.threshold" in bad.json()["error"]["message"]
        unknown = admin.patch("/admin/config", json={"cache_treshold": 0.5})
        assert unknown.status_code == 400
        ok = admin.patch("/admin/config", json={"cache_enabled": False})
        assert ok.status_code == 200 and ok.json()["cache_enabled"] is False
    body = {"model": "auto", "messages": PROMPT, "max_tokens": 4}
    response = httpx.post(server.base_url + "/chat/completions", json=body, timeout=60)
    assert response.headers["x-appliance-cache"] == "bypass"
    server.stop()
    server.start()
    with server.admin() as admin:
        assert admin.get("/admin/config").json()["cache_enabled"] is False
    response = httpx.post(server.base_url + "/chat/completions", json=body, timeout=60)
    assert response.headers["x-appliance-cache"] == "bypass"


def run_cli(server: Server, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "appliance", *args, "--config", str(server.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_keys_are_required_once_one_exists_and_budgets_are_enforced(
    local_server: Server,
    server_factory: ServerFactory,
) -> None:
    tiers = [
        {
            "name": "cloud",
            "backend": "openai",
            "base_url": local_server.base_url,
            "model": "smollm2-135m-instruct",
            "price": {"input": 50000.0, "output": 50000.0},
        }
    ]
    server = server_factory({"tiers": tiers, "cache": {"enabled": False}})
    key = server.add_key("team-a", "--budget", "1.0")
    anonymous = httpx.post(
        server.base_url + "/chat/completions",
        json={"messages": PROMPT, "max_tokens": 2},
        timeout=30,
    )
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["type"] == "authentication_error"
    client = sdk(server.base_url, key)
    client.chat.completions.create(model="auto", messages=PROMPT, max_tokens=4)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="auto", messages=PROMPT, max_tokens=4)
    assert "budget" in str(info.value).lower()
    assert key not in server.log()
    with server.admin() as admin:
        stats = admin.get("/admin/stats").json()
        assert any(c["name"] == "team-a" and c["month_usd"] > 1.0 for c in stats["clients"])
        assert key not in admin.get("/admin/stats").text
        assert key not in admin.get("/admin/ledger").text


def test_kill_9_during_load_keeps_every_acknowledged_row(
    local_server: Server,
    server_factory: ServerFactory,
) -> None:
    tiers = [
        {
            "name": "cloud",
            "backend": "openai",
            "base_url": local_server.base_url,
            "model": "smollm2-135m-instruct",
            "price": PRICE,
        }
    ]
    server = server_factory({"tiers": tiers, "cache": {"enabled": False}})
    acknowledged: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                try:
                    r = http.post(
                        server.base_url + "/chat/completions",
                        json={"messages": PROMPT, "max_tokens": 2},
                    )
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    acknowledged.append(r.headers["x-request-id"])

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.time() + 30
    while len(acknowledged) < 12 and time.time() < deadline:
        time.sleep(0.05)
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    stop.set()
    for t in threads:
        t.join()
    assert len(acknowledged) >= 12
    server.start()
    ids = {r["request_id"] for r in ledger_rows(server)}
    missing = [a for a in acknowledged if a not in ids]
    assert missing == []


def test_budget_cap_mode_keeps_serving_from_free_tiers_only(
    local_server: Server,
    server_factory: ServerFactory,
) -> None:
    tiers = [
        {"name": "local", "backend": "llamacpp", "model": "local-small"},
        {
            "name": "cloud",
            "backend": "openai",
            "base_url": local_server.base_url,
            "model": "smollm2-135m-instruct",
            "price": {"input": 50000.0, "output": 50000.0},
        },
    ]
    server = server_factory(
        {"tiers": tiers, "cache": {"enabled": False}, "security": {"on_budget_exceeded": "cap"}}
    )
    key = server.add_key("team-b", "--budget", "1.0")
    client = sdk(server.base_url, key)
    first = client.chat.completions.with_raw_response.create(
        model="smollm2-135m-instruct", messages=PROMPT, max_tokens=4
    )
    assert first.headers["x-appliance-tier"] == "cloud"  # pinned, and spends the budget
    capped = client.chat.completions.with_raw_response.create(
        model="smollm2-135m-instruct", messages=PROMPT, max_tokens=4
    )
    assert capped.http_response.status_code == 200
    assert capped.headers["x-appliance-tier"] == "local"
    assert capped.headers["x-appliance-route-reason"] == "budget-cap"


def test_per_client_max_tokens_cap_applies(server_factory: ServerFactory) -> None:
    server = server_factory({"cache": {"enabled": False}})
    key = server.add_key("terse", "--max-tokens", "3")
    client = sdk(server.base_url, key)
    completion = client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "Write a long story about the sea."}],
        max_tokens=200,
        temperature=0,
    )
    assert completion.usage is not None
    assert completion.usage.completion_tokens <= 3
    assert completion.choices[0].finish_reason == "length"
