"""Security and degraded-storage behaviour through the real server: private cache namespaces
never leak across clients, secrets never appear anywhere a person or a log can read, and a
ledger that cannot write is reported loudly while requests are still answered."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.conftest import ServerFactory
from tests.serving import Server, sdk

UPSTREAM_SECRET = "sk-upstream-secret-do-not-leak-123"


def ask(server: Server, key: str, content: str) -> httpx.Response:
    body = {
        "model": "auto",
        "max_tokens": 4,
        "temperature": 0,
        "messages": [{"role": "user", "content": content}],
    }
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.post(server.base_url + "/chat/completions", json=body, timeout=60, headers=headers)


@pytest.fixture(scope="module")
def keyed(local_server: Server, server_factory: ServerFactory) -> tuple[Server, dict[str, str]]:
    tiers = [
        {
            "name": "cloud",
            "backend": "openai",
            "base_url": local_server.base_url,
            "model": "smollm2-135m-instruct",
            "api_key_env": "APPLIANCE_TEST_UPSTREAM",
        }
    ]
    server = server_factory({"tiers": tiers}, env={"APPLIANCE_TEST_UPSTREAM": UPSTREAM_SECRET})
    keys = {
        name: server.add_key(name, "--namespace", ns)
        for name, ns in (
            ("alice", "private"),
            ("bob", "private"),
            ("carol", "shared"),
            ("dave", "shared"),
        )
    }
    return server, keys


def hit_after_store(server: Server, key: str, content: str) -> httpx.Response:
    for _ in range(50):
        response = ask(server, key, content)
        if response.headers.get("x-appliance-cache") == "hit":
            return response
        time.sleep(0.05)
    return response


def test_private_namespace_is_never_served_to_another_client(
    keyed: tuple[Server, dict[str, str]],
) -> None:
    server, keys = keyed
    question = "What is Alice's favourite private fact?"
    ask(server, keys["alice"], question)
    assert hit_after_store(server, keys["alice"], question).headers["x-appliance-cache"] == "hit"
    for other in ("bob", "carol"):
        assert ask(server, keys[other], question).headers["x-appliance-cache"] == "miss"


def test_shared_namespace_is_shared(keyed: tuple[Server, dict[str, str]]) -> None:
    server, keys = keyed
    question = "What is the shared answer to everything?"
    ask(server, keys["carol"], question)
    hit_after_store(server, keys["carol"], question)
    assert ask(server, keys["dave"], question).headers["x-appliance-cache"] == "hit"


def test_secrets_never_appear_in_logs_events_admin_or_errors(
    keyed: tuple[Server, dict[str, str]],
) -> None:
    server, keys = keyed
    secrets = [UPSTREAM_SECRET, server.admin_token(), *keys.values()]
    seen: list[str] = []
    seen.append(ask(server, "sk-appl-wrong", "hi").text)  # 401 body
    bad = {"messages": [], "model": "auto"}
    seen.append(
        httpx.post(
            server.base_url + "/chat/completions",
            json=bad,
            timeout=30,
            headers={"authorization": f"Bearer {keys['alice']}"},
        ).text
    )
    with server.admin() as admin:
        for path in (
            "/admin/stats",
            "/admin/config",
            "/admin/recent",
            "/admin/ledger",
            "/admin/ledger?format=csv",
            "/openapi.json",
            "/metrics",
        ):
            seen.append(admin.get(path).text)
        with admin.stream("GET", "/admin/events", timeout=10) as events:
            ask(server, keys["alice"], "one more for the event stream")
            for line in events.iter_lines():
                seen.append(line)
                if line.startswith("data:"):
                    break
    client = sdk(server.base_url, keys["bob"])
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    seen.append(str(info.value))
    seen.append(server.log())
    blob = "\n".join(seen)
    for secret in secrets:
        assert secret not in blob


def test_ledger_that_cannot_write_is_loud_but_requests_are_answered(
    server_factory: ServerFactory,
) -> None:
    # A cap just above the empty ledger's size: it fills after some rows, like a full disk.
    server = server_factory({"ledger": {"max_size_mb": 0.08}})
    ask(server, "", "Fill the ledger")
    statuses = [ask(server, "", "Fill the ledger").status_code for _ in range(600)]
    assert statuses == [200] * 600
    with server.admin() as admin:
        ledger = admin.get("/admin/stats").json()["ledger"]
    assert ledger["ok"] is False and ledger["error"]
    assert "ledger write failed" in server.log()


def test_ledger_that_cannot_open_still_serves(server_factory: ServerFactory) -> None:
    server = server_factory({"ledger": {"max_size_mb": 0.001}})
    assert ask(server, "", "Still answered?").status_code == 200
    with server.admin() as admin:
        ledger = admin.get("/admin/stats").json()["ledger"]
    assert ledger["ok"] is False and "cannot open" in ledger["error"]
    assert "LEDGER UNAVAILABLE" in server.log()


def test_lan_bind_without_keys_warns_loudly(server_factory: ServerFactory) -> None:
    server = server_factory({"server": {"host": "0.0.0.0"}})
    assert "WITH NO CLIENT KEYS" in server.log()
