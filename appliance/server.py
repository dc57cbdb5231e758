"""Serving the app: uvicorn, with the connection discipline a LAN-facing daemon needs.

uvicorn alone keeps a connection that never finishes its headers open forever (its keep-alive
timer is armed only after a first response), and its `limit_concurrency` answers 503 only
after reading headers. So 1,500 clients trickling header bytes hold 1,500 descriptors and,
under the common default of 1,024, lock everyone out. `GuardedProtocol` adds, per connection:
- a deadline for the request line and headers (`server.header_timeout_s`) from the moment
  the connection opens or a new request starts, and one for the body once headers are in
  (`server.body_timeout_s`); a connection that misses one is closed;
- a cap on open connections (`server.max_connections`, never above the descriptor limit less
  a reserve for the ledger, cache, models and upstream sockets). At the cap, the connection
  that has waited longest for its headers (or idled longest between requests) is closed to
  make room, so a slow client is dropped and a normal one served; when every connection is
  busy with a real request, the newcomer gets an immediate 503 with Retry-After.
The soft descriptor limit is raised to the hard one at start-up (systemd units also set
LimitNOFILE), so the cap follows what the host allows.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from appliance.config import ServerConfig

log = logging.getLogger("appliance.server")
# Descriptors kept for everything that is not a client connection.
FD_RESERVE = 128
# A connection younger than this is never evicted: it may be a normal client mid-headers.
_EVICT_AFTER_S = 0.5
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    b"retry-after: 1\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%s"
)
_BUSY_BODY = (
    b'{"error":{"message":"The appliance has too many open connections; retry shortly",'
    b'"type":"service_unavailable","param":null,"code":"too_many_connections"}}'
)

State = Literal["waiting", "active", "idle"]


def raise_fd_limit() -> int:
    """Raise the soft descriptor limit to the hard one; returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def connection_cap(config: ServerConfig, fd_limit: int) -> int:
    """`server.max_connections`, never more than the descriptors allow."""
    return max(8, min(config.max_connections, fd_limit - FD_RESERVE))


@dataclass
class ConnectionGuard:
    """Shared by every connection of one server: who is open, in what state, since when."""

    cap: int
    header_timeout_s: float
    body_timeout_s: float
    clock: Callable[[], float] = time.monotonic
    open: dict[GuardedProtocol, tuple[State, float]] = field(default_factory=dict)
    refused: int = 0
    evicted: int = 0
    timed_out: int = 0

    def admit(self, newcomer: GuardedProtocol) -> bool:
        """Make room for a new connection if need be; False when every slot is busy."""
        if len(self.open) >= self.cap:
            victim = self._evictable()
            if victim is None:
                self.refused += 1
                return False
            self.evicted += 1
            self.forget(victim)
            victim.drop()
        self.open[newcomer] = ("waiting", self.clock())
        return True

    def _evictable(self) -> GuardedProtocol | None:
        """The connection that has waited longest without a request under way."""
        now = self.clock()
        best: tuple[float, GuardedProtocol] | None = None
        for conn, (state, since) in self.open.items():
            old_enough = state != "active" and now - since >= _EVICT_AFTER_S
            if old_enough and (best is None or since < best[0]):
                best = (since, conn)
        return None if best is None else best[1]

    def mark(self, conn: GuardedProtocol, state: State) -> None:
        if conn in self.open:
            self.open[conn] = (state, self.clock())

    def forget(self, conn: GuardedProtocol) -> None:
        self.open.pop(conn, None)


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with deadlines and the connection cap (module docstring)."""

    guard: ConnectionGuard  # set on a subclass per server by `guarded_protocol`

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._admitted = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if not self.guard.admit(self):
            transport.write(_BUSY % (len(_BUSY_BODY), _BUSY_BODY))
            transport.close()
            return
        self._admitted = True
        super().connection_made(transport)
        self._arm(self.guard.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            return
        self._disarm()
        self.guard.forget(self)
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.guard.mark(self, "waiting")
        self._arm(self.guard.header_timeout_s)

    def on_headers_complete(self) -> None:
        self.guard.mark(self, "active")
        self._arm(self.guard.body_timeout_s)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self.guard.mark(self, "idle")
        super().on_response_complete()

    def drop(self) -> None:
        """Close now (evicted, or a deadline passed)."""
        self._disarm()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        self.guard.timed_out += 1
        self.drop()


def guarded_protocol(guard: ConnectionGuard) -> type[GuardedProtocol]:
    """A protocol class bound to one server's guard (uvicorn builds one instance per
    connection from the class it is given)."""
    return type("Guarded", (GuardedProtocol,), {"guard": guard})


def serve(app: Any, config: ServerConfig) -> None:
    import uvicorn

    fd_limit = raise_fd_limit()
    guard = ConnectionGuard(
        connection_cap(config, fd_limit), config.header_timeout_s, config.body_timeout_s
    )
    log.info(
        "serving on %s:%d; at most %d open connections (descriptor limit %d)",
        config.host,
        config.port,
        guard.cap,
        fd_limit,
    )
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        http=guarded_protocol(guard),
        log_level=config.log_level,
        access_log=False,
        timeout_keep_alive=int(max(1, config.keepalive_timeout_s)),
        timeout_graceful_shutdown=10,
        backlog=min(4096, guard.cap),
    )
