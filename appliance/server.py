"""Serving the app: uvicorn, with the connection discipline a LAN-facing daemon needs.

uvicorn alone keeps a connection that never finishes its headers open forever (its keep-alive
timer is armed only after a first response), and its `limit_concurrency` answers 503 only
after reading headers. So 1,500 clients trickling header bytes hold 1,500 descriptors and,
under the common default of 1,024, lock everyone out. `GuardedProtocol` adds, per connection:
- a deadline for the request line and headers (`server.header_timeout_s`) from the moment
  the connection opens or a new request starts, and one for the body once headers are in
  (`server.body_timeout_s`); a connection that misses one is closed;
- a cap on open connections (`server.max_connections`, never above a third of the
  descriptors left after a reserve for the ledger, cache and models: each request may hold an
  upstream socket too, and as many refused connections may be reading their 503). At the
  cap, the connection that has waited longest for its headers (over two seconds) is closed to
  make room, so a slow client is dropped and a normal one served; when none is that slow
  (every connection is a real request, or an idle keep-alive one its client may be reusing
  this instant), the newcomer gets a 503 with Retry-After.
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
# A connection that has not finished its headers for this long is taken to be a slow client
# (a normal one sends them within milliseconds, even when the box is busy) and may be evicted.
_EVICT_AFTER_S = 2.0
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    b"retry-after: 1\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%s"
)
_BUSY_BODY = (
    b'{"error":{"message":"The appliance has too many open connections; retry shortly",'
    b'"type":"service_unavailable","param":null,"code":"too_many_connections"}}'
)

# Refusals, evictions and timeouts are logged at most this often (one line).
_REPORT_S = 10.0
# How long a refused connection may take to read its 503 (it closes when it has), and how
# many may wait so at once: beyond that they are closed at once, which may reset them.
_LINGER_S = 5.0
_LINGER_SHORT_S = 0.2

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
    """`server.max_connections`, never more than the descriptors allow: each client
    connection may hold a second descriptor for its upstream call, and as many refused ones
    may be waiting to read their 503 (a third of what is left after the reserve each)."""
    return max(8, min(config.max_connections, (fd_limit - FD_RESERVE) // 3))


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
    lingering: int = 0
    _reported: tuple[int, int, int] = (0, 0, 0)
    _reporting: bool = False

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
        """The connection that has waited longest for its request's headers."""
        now = self.clock()
        best: tuple[float, GuardedProtocol] | None = None
        for conn, (state, since) in self.open.items():
            old_enough = state == "waiting" and now - since >= _EVICT_AFTER_S
            if old_enough and (best is None or since < best[0]):
                best = (since, conn)
        return None if best is None else best[1]

    def mark(self, conn: GuardedProtocol, state: State) -> None:
        if conn in self.open:
            self.open[conn] = (state, self.clock())

    def forget(self, conn: GuardedProtocol) -> None:
        self.open.pop(conn, None)

    def start_reports(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._reporting:
            self._reporting = True
            loop.call_later(_REPORT_S, self._log, loop)

    def _log(self, loop: asyncio.AbstractEventLoop) -> None:
        if (line := self.report()) is not None:
            log.warning("%s", line)
        loop.call_later(_REPORT_S, self._log, loop)

    def report(self) -> str | None:
        """One log line when connections were refused, evicted or timed out since the last."""
        counts = (self.refused, self.evicted, self.timed_out)
        if counts == self._reported:
            return None
        self._reported = counts
        return (
            f"connections: {len(self.open)} open of {self.cap}; since start {self.refused} "
            f"refused (503), {self.evicted} slow ones evicted, {self.timed_out} timed out"
        )


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with deadlines and the connection cap (module docstring)."""

    guard: ConnectionGuard  # set on a subclass per server by `guarded_protocol`

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._admitted = False
        self._refused: asyncio.Transport | None = None
        self._head = b""
        self._answered = False
        self._lingers = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.guard.start_reports(self.loop)
        if not self.guard.admit(self):
            self._refuse(transport)
            return
        self._admitted = True
        super().connection_made(transport)
        self._arm(self.guard.header_timeout_s)

    def _refuse(self, transport: asyncio.Transport) -> None:
        """A 503 in answer to the request, as a client expects it: wait (briefly) for the
        request head, answer, half-close, and keep reading until the client closes. Closing
        with unread data would make the kernel send a reset, which can overtake our 503."""
        self._refused = transport
        self._head = b""
        if self.guard.lingering >= self.guard.cap:  # too many waiting: answer now, close soon
            self._answer_busy()
            self.loop.call_later(_LINGER_SHORT_S, transport.close)
            return
        self.guard.lingering += 1
        self._lingers = True
        self.loop.call_later(_LINGER_S, transport.close)

    def _answer_busy(self) -> None:
        assert self._refused is not None
        if not self._answered:
            self._answered = True
            self._refused.write(_BUSY % (len(_BUSY_BODY), _BUSY_BODY))
            if self._refused.can_write_eof():
                self._refused.write_eof()

    def data_received(self, data: bytes) -> None:
        if self._refused is None:
            super().data_received(data)
            return
        if not self._answered:
            seen = self._head + data
            if b"\r\n\r\n" in seen:
                self._answer_busy()
            self._head = seen[-3:]  # a head's end may straddle two reads

    def eof_received(self) -> None:
        if self._refused is not None:
            self._answer_busy()
            self._refused.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            if self._lingers:
                self.guard.lingering = max(0, self.guard.lingering - 1)
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
