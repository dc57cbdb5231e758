"""kill -9, repeatedly: every acknowledged cache entry is served after restart, even when the
index file is torn on the way down (it is rebuilt from the store)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.serving import Server


def ask(server: Server, content: str) -> httpx.Response:
    body = {
        "model": "auto",
        "max_tokens": 4,
        "temperature": 0,
        "messages": [{"role": "user", "content": content}],
    }
    return httpx.post(server.base_url + "/chat/completions", json=body, timeout=60)


def acknowledged(server: Server, prompts: list[str]) -> dict[str, str]:
    """Entry id per prompt, once a repeat has been served from the cache (acknowledged)."""
    ids = {p: ask(server, p).headers["x-appliance-cache-entry"] for p in prompts}
    deadline = time.monotonic() + 30
    pending = set(prompts)
    while pending and time.monotonic() < deadline:
        for prompt in list(pending):
            if ask(server, prompt).headers.get("x-appliance-cache") == "hit":
                pending.discard(prompt)
        time.sleep(0.05)
    assert not pending
    return ids


@pytest.mark.parametrize("tear_index", [False, True], ids=["clean-index", "torn-index"])
def test_acknowledged_entries_survive_kill_9(
    server_factory: ServerFactory, tear_index: bool
) -> None:
    server = server_factory()
    assert server.state_dir is not None
    expected: dict[str, str] = {}
    for round_ in range(2):
        prompts = [f"Durability check {round_}-{i}: name a colour." for i in range(5)]
        expected.update(acknowledged(server, prompts))
        server.kill()
        if tear_index:
            index = server.state_dir / "cache" / "index" / "index.bin"
            if index.exists():
                data = index.read_bytes()
                index.write_bytes(data[: len(data) // 2])  # a half-written file
        server.start()
        for prompt, entry in expected.items():
            response = ask(server, prompt)
            assert response.headers["x-appliance-cache"] == "hit", prompt
            assert response.headers["x-appliance-cache-entry"] == entry
