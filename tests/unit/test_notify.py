"""sd_notify over a real datagram socket, the event-loop watchdog, and SIGHUP reloads."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator

import pytest

from appliance.notify import notify, watchdog_interval_s, watchdog_loop
from appliance.reload import install_reload_handler


class _Listener:
    """The service manager's end: a bound AF_UNIX datagram socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.setblocking(False)

    def messages(self) -> list[str]:
        out: list[str] = []
        while True:
            try:
                out.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return out


@pytest.fixture
def listener(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Listener]:
    # A short directory: AF_UNIX paths are limited to 107 bytes, pytest's tmp_path can be longer.
    directory = tempfile.mkdtemp(prefix="sdn")
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield _Listener(sock)
    sock.close()
    shutil.rmtree(directory)


def test_no_op_outside_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify(ready=True, status="ready") is False


def test_ready_and_status_in_one_datagram(listener: _Listener) -> None:
    assert notify(ready=True, status="ready: 2 tiers")
    assert listener.messages() == ["READY=1\nSTATUS=ready: 2 tiers\n"]


def test_status_newlines_cannot_inject_fields(listener: _Listener) -> None:
    notify(status="loading\nREADY=1")
    assert listener.messages() == ["STATUS=loading READY=1\n"]


def test_reloading_carries_monotonic_time(listener: _Listener) -> None:
    notify(reloading=True)
    (message,) = listener.messages()
    lines = message.splitlines()
    assert lines[0] == "RELOADING=1"
    assert lines[1].startswith("MONOTONIC_USEC=") and int(lines[1].split("=")[1]) > 0


def test_stopping(listener: _Listener) -> None:
    notify(stopping=True, status="stopping")
    assert listener.messages() == ["STOPPING=1\nSTATUS=stopping\n"]


def test_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"appliance-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify(watchdog=True)
        assert sock.recv(4096) == b"WATCHDOG=1\n"


def test_dead_socket_is_logged_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "/nonexistent/notify")
    assert notify(ready=True) is False


def test_watchdog_interval_is_half_of_watchdog_usec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval_s() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval_s() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process
    assert watchdog_interval_s() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert watchdog_interval_s() is None


async def test_watchdog_loop_pings_from_the_event_loop(
    listener: _Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "20000")  # 20 ms -> a ping every 10 ms
    task = asyncio.create_task(watchdog_loop())
    await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    pings = listener.messages()
    assert len(pings) >= 3 and set(pings) == {"WATCHDOG=1\n"}


async def test_watchdog_loop_returns_without_a_watchdog(listener: _Listener) -> None:
    await asyncio.wait_for(watchdog_loop(), timeout=1)
    assert listener.messages() == []


async def test_sighup_reloads_between_reloading_and_ready(listener: _Listener) -> None:
    loop = asyncio.get_running_loop()
    reloaded = asyncio.Event()

    async def reload_config() -> None:
        reloaded.set()

    uninstall = install_reload_handler(loop, reload_config)
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.wait_for(reloaded.wait(), timeout=5)
        await asyncio.sleep(0.05)  # let the READY=1 after the callback go out
    finally:
        uninstall()
    first, second = listener.messages()
    assert first.startswith("RELOADING=1\n") and "STATUS=reloading config" in first
    assert second == "READY=1\nSTATUS=ready; config reloaded\n"


async def test_failed_reload_keeps_running_and_says_why(listener: _Listener) -> None:
    loop = asyncio.get_running_loop()
    attempted = asyncio.Event()

    async def broken_reload() -> None:
        attempted.set()
        raise ValueError("config: router.cut_points: must be ascending")

    uninstall = install_reload_handler(loop, broken_reload)
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.wait_for(attempted.wait(), timeout=5)
        await asyncio.sleep(0.05)
    finally:
        uninstall()
    messages = listener.messages()
    assert messages[-1].startswith("READY=1\nSTATUS=ready; last reload failed: config: router")
