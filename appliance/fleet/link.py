"""The fleet's one Redis: its clients, its key names, and whether it is reachable right now.

It owns the connection policy that keeps Redis trouble from costing a request: every client
has a short socket timeout and no hidden retries (redis-py retries three times by default,
which would triple a stall), and after a failure the link reads as down for a backoff period
so the request path stops waiting on Redis at all and decides locally. Background threads
keep trying; the first call that succeeds marks the link up again.

It must not know what is stored (cache entries, budgets, figures): the modules beside it do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from appliance.config import FleetConfig

# What a Redis call can raise when Redis is down, slow, restarting or refusing writes.
RedisTrouble: tuple[type[Exception], ...] = (redis.RedisError, OSError)

_BACKOFF_MIN_S = 0.5
_BACKOFF_MAX_S = 5.0


def _client(url: str, timeout_s: float) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
    )


def texts(reply: Any) -> list[str]:
    """A Redis reply of members (bytes) as strings."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in reply]


def redact(url: str) -> str:
    """The URL without its password, for logs and the admin API."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class RedisLink:
    """Two clients: `fast` for the request path (`request_timeout_s`), `slow` for the
    background threads (`timeout_s`). Both are thread-safe (a connection pool each)."""

    def __init__(self, config: FleetConfig, clock: Callable[[], float] = time.monotonic):
        self.url = config.redis_url
        self.prefix = config.key_prefix
        self.fast = _client(config.redis_url, config.request_timeout_s)
        self.slow = _client(config.redis_url, config.timeout_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._up = True  # optimistic until the first call says otherwise
        self._retry_at = 0.0
        self._backoff = _BACKOFF_MIN_S
        self.last_error: str | None = None
        self.down_since: float | None = None
        self.outages = 0

    def key(self, *parts: object) -> str:
        return ":".join([self.prefix, *(str(p) for p in parts)])

    @property
    def is_up(self) -> bool:
        return self._up

    def usable(self) -> bool:
        """May the request path try Redis now? False while down and backing off."""
        return self._up or self._clock() >= self._retry_at

    def ok(self) -> None:
        if self._up:
            return
        with self._lock:
            self._up, self._backoff = True, _BACKOFF_MIN_S
            self.down_since = None

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            if self._up:
                self.outages += 1
                self.down_since = time.time()
            self._up = False
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._retry_at = self._clock() + self._backoff
            self._backoff = min(self._backoff * 2, _BACKOFF_MAX_S)

    def state(self) -> str:
        return "up" if self._up else f"down ({self.last_error})"

    def close(self) -> None:
        self.fast.close()
        self.slow.close()
