"""Abuse from the LAN, against a real daemon: slow clients, descriptor exhaustion, state file
modes, oversized and deeply nested bodies, embeddings bombs."""

from __future__ import annotations

import asyncio
import socket
import stat
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.serving import Server

SLOW = 300  # more slow clients than the daemon has descriptors for (below)


def _trickle(port: int) -> socket.socket:
    """A client that sends part of a request line and headers, then stalls."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        data = sock.recv(4096)
    except TimeoutError:
        return False
    except OSError:
        return True
    return data == b"" or data.startswith(b"HTTP/1.1 503")


@pytest.fixture(scope="module")
def guarded(server_factory: ServerFactory) -> Server:
    # 512 descriptors: 128 connections after the reserve for files, models and upstreams.
    settings = {"server": {"header_timeout_s": 2.0, "body_timeout_s": 2.0}}
    return server_factory(settings, fd_limit=512)


@pytest.fixture
def slow_clients(guarded: Server) -> Iterator[list[socket.socket]]:
    socks = []
    for _ in range(SLOW):
        try:
            socks.append(_trickle(guarded.port))
        except OSError:
            break
    yield socks
    for sock in socks:
        sock.close()


def test_slow_clients_cannot_lock_out_a_normal_one(
    guarded: Server, slow_clients: list[socket.socket]
) -> None:
    assert len(slow_clients) == SLOW  # the kernel accepted them all; the daemon decides
    time.sleep(2.2)  # slower than any normal client: evictable
    began = time.monotonic()
    for _ in range(5):
        response = httpx.get(guarded.url + "/healthz", timeout=5)
        assert response.status_code == 200
    assert time.monotonic() - began < 5
    # Beyond the cap they were refused (503 after a wait for a request head that never
    # came: at most 5 s); the rest were dropped at the header deadline.
    time.sleep(3.5)
    still_open = [s for s in slow_clients if not _closed_by_server(s)]
    assert still_open == []
    log = guarded.log()
    assert "Traceback" not in log and "Too many open files" not in log


def test_a_body_that_never_finishes_is_dropped(guarded: Server) -> None:
    sock = socket.create_connection(("127.0.0.1", guarded.port), timeout=5)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        b'content-length: 1000\r\n\r\n{"messages": ['
    )
    time.sleep(3.0)
    assert _closed_by_server(sock)
    sock.close()


def test_state_files_are_private_however_the_daemon_is_started(guarded: Server) -> None:
    assert guarded.state_dir is not None
    mode = stat.S_IMODE(guarded.state_dir.stat().st_mode)
    assert mode == 0o700, oct(mode)
    loose = {
        str(path.relative_to(guarded.state_dir)): oct(stat.S_IMODE(path.stat().st_mode))
        for path in guarded.state_dir.rglob("*")
        if stat.S_IMODE(path.stat().st_mode) & 0o077
    }
    assert loose == {}


def test_the_local_models_queue_is_bounded(server_factory: ServerFactory) -> None:
    server = server_factory({"limits": {"local_queue_max": 2}})
    body = {
        "model": "auto",
        "messages": [{"role": "user", "content": "Write a long story about a lighthouse."}],
        "max_tokens": 200,
        "temperature": 1.0,
    }

    async def ask_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=120) as http:
            return await asyncio.gather(
                *(http.post("/chat/completions", json=body) for _ in range(6))
            )

    responses = asyncio.run(ask_all())
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) >= 3 and set(codes) <= {200, 503}, codes
    refused = [r for r in responses if r.status_code == 503]
    assert refused and all(r.headers.get("retry-after") for r in refused)
    assert all("busy" in r.json()["error"]["message"] for r in refused)


def test_a_client_that_hangs_up_on_a_whole_answer_frees_the_model(
    server_factory: ServerFactory,
) -> None:
    """Not streamed: the client leaves after 2 s; the generation stops, the next request is
    prompt, and the ledger says what happened."""
    server = server_factory()
    body = (
        b'{"model": "auto", "max_tokens": 1000, "temperature": 1.0, "messages": '
        b'[{"role": "user", "content": "Write a very long story about a dragon."}]}'
    )
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        b"cache-control: no-store\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    )
    time.sleep(2.0)
    sock.close()
    began = time.monotonic()
    short = {"model": "auto", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3}
    assert httpx.post(server.base_url + "/chat/completions", json=short, timeout=60).is_success
    assert time.monotonic() - began < 10.0
    with server.admin() as admin:
        rows = admin.get("/admin/ledger").json()
    assert "error:client_disconnected" in {r["status"] for r in rows}
