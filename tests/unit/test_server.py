"""The connection guard's choices, with a fake clock (the real thing: tests/integration/
test_abuse.py against a daemon short of descriptors)."""

from __future__ import annotations

from typing import Any

from appliance.config import ServerConfig
from appliance.server import ConnectionGuard, connection_cap


class _Conn:
    def __init__(self) -> None:
        self.dropped = False

    def drop(self) -> None:
        self.dropped = True


class _Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def _guard(cap: int) -> tuple[ConnectionGuard, _Clock]:
    clock = _Clock()
    return ConnectionGuard(cap, 10.0, 30.0, clock=clock), clock


def test_at_the_cap_the_longest_waiting_slow_client_makes_room() -> None:
    guard, clock = _guard(3)
    a, b, c = _Conn(), _Conn(), _Conn()
    for conn in (a, b, c):
        assert guard.admit(conn)  # type: ignore[arg-type]
        clock.now += 1.0
    guard.mark(b, "active")  # type: ignore[arg-type]
    clock.now += 2.0
    newcomer: Any = _Conn()
    assert guard.admit(newcomer)
    assert a.dropped and not b.dropped and not c.dropped
    assert guard.evicted == 1 and newcomer in guard.open


def test_busy_or_young_connections_are_not_evicted_the_newcomer_is_refused() -> None:
    guard, clock = _guard(2)
    busy, young = _Conn(), _Conn()
    guard.admit(busy)  # type: ignore[arg-type]
    guard.mark(busy, "active")  # type: ignore[arg-type]
    clock.now += 5.0
    guard.admit(young)  # type: ignore[arg-type]
    clock.now += 0.5  # a normal client may still be sending its headers
    assert not guard.admit(_Conn())  # type: ignore[arg-type]
    idle = _Conn()
    guard.forget(young)  # type: ignore[arg-type]
    guard.admit(idle)  # type: ignore[arg-type]
    guard.mark(idle, "idle")  # type: ignore[arg-type]
    clock.now += 60.0  # an idle keep-alive connection may be reused by its client any moment
    assert not guard.admit(_Conn())  # type: ignore[arg-type]
    assert guard.refused == 2 and not busy.dropped and not idle.dropped


def test_the_cap_follows_the_descriptor_limit() -> None:
    config = ServerConfig(max_connections=4096)
    assert connection_cap(config, 1024) == (1024 - 128) // 3
    assert connection_cap(config, 1 << 20) == 4096
    assert connection_cap(config, 100) == 8
