"""Who is calling: client API keys -> name, cache namespace, budget and token cap.

It owns the key store (`keys.sqlite` under the state dir), key hashing and comparison. It
must not count spend (`ledger/budgets.py`), decide what happens when a budget runs out
(`security.on_budget_exceeded`, applied by the pipeline) nor speak HTTP.

Keys live in their own file, not in the ledger, because their lifecycle differs: the ledger
may be exported, rotated or deleted to start a fresh month of accounting without locking
every client out, and the keys file is created 0600 while reports may read the ledger.

Keys are 32 random bytes, so a plain SHA-256 at rest is enough: nobody can brute-force a
256-bit secret from its hash, and a slow password KDF would add milliseconds to every
request for nothing. Lookup is by the first 16 hex digits of the hash, then the full hash is
compared with `hmac.compare_digest`, so response time does not reveal how close a guess was.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.migrations import Migrations

KEY_PREFIX = "sk-appl-"
KEYS_FILE = "keys.sqlite"
SHARED_NAMESPACE = "shared"
_LOOKUP_HEX = 16


@dataclass(frozen=True, slots=True)
class Client:
    """An authenticated caller. `id` is what the ledger's `client` column holds;
    `namespace` is the resolved cache namespace ("shared" or "client:<id>" or custom)."""

    id: str
    name: str
    namespace: str
    budget_usd_month: float | None = None
    created_at: float = 0.0
    key_prefix: str = ""  # the first characters of the key, to tell keys apart in listings
    revoked_at: float | None = None
    # Cap on `max_tokens` for this client's requests (applied before any tier cap).
    max_tokens: int | None = None
    # May `Cache-Control: no-cache` replace an answer other clients of its namespace see?
    # Without it a refresh lands in the client's own view (`client:<id>`) only.
    refresh_shared: bool = False


# With no keys the box has one tenant, so its refreshes are everyone's.
ANONYMOUS = Client(
    id="anonymous", name="anonymous", namespace=SHARED_NAMESPACE, refresh_shared=True
)


key_migrations = Migrations("keys")


@key_migrations
def m001_clients(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE clients (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            key_hash TEXT NOT NULL UNIQUE,
            key_prefix TEXT NOT NULL,
            namespace TEXT NOT NULL,
            budget_usd_month REAL,
            created_at REAL NOT NULL,
            revoked_at REAL
        )
        """
    )
    # A name may be reused once its old key is revoked, never twice at the same time.
    conn.execute(
        "CREATE UNIQUE INDEX clients_active_name ON clients (name) WHERE revoked_at IS NULL"
    )


@key_migrations
def m002_client_max_tokens(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE clients ADD COLUMN max_tokens INTEGER")


@key_migrations
def m003_client_refresh_shared(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE clients ADD COLUMN refresh_shared INTEGER NOT NULL DEFAULT 0")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


_SELECT = (
    "SELECT id, name, namespace, budget_usd_month, created_at, key_prefix, revoked_at, key_hash, "
    "max_tokens, refresh_shared FROM clients"
)


def _client(r: tuple[Any, ...]) -> Client:
    return Client(
        id=r[0],
        name=r[1],
        namespace=r[2],
        budget_usd_month=r[3],
        created_at=r[4],
        key_prefix=r[5],
        revoked_at=r[6],
        max_tokens=r[8],
        refresh_shared=bool(r[9]),
    )


class KeyStore:
    """Client keys in `<state_dir>/keys.sqlite`. Safe to share between threads.

    The daemon keeps every active key's hash in memory. Another process (`appliance keys
    add|revoke`) changing the file is noticed through SQLite's `PRAGMA data_version`, checked
    at most every `refresh_s` seconds on use, so a new or revoked key takes effect within
    about a second without a restart and without a query per request.
    """

    def __init__(
        self, path: Path, *, refresh_s: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Create the file 0600 ourselves; SQLite would honour the umask (often 0644).
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        self._conn = sqlite3.connect(
            self.path, timeout=5.0, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        key_migrations.apply(self._conn)
        self._lock = threading.Lock()
        self._refresh_s = refresh_s
        self._clock = clock
        self._by_lookup: dict[str, tuple[str, Client]] = {}
        self._data_version = -1
        self._checked_at = 0.0
        self._reload()

    @classmethod
    def open(cls, state_dir: Path) -> KeyStore:
        return cls(Path(state_dir) / KEYS_FILE)

    def _reload(self) -> None:
        with self._lock:
            self._data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            rows = self._conn.execute(_SELECT + " WHERE revoked_at IS NULL").fetchall()
            self._by_lookup = {r[7][:_LOOKUP_HEX]: (r[7], _client(r)) for r in rows}
            self._checked_at = self._clock()

    def _maybe_refresh(self) -> None:
        if self._clock() - self._checked_at < self._refresh_s:
            return
        with self._lock:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            self._checked_at = self._clock()
            changed = version != self._data_version
        if changed:
            self._reload()

    def add(
        self,
        name: str,
        namespace: str = SHARED_NAMESPACE,
        budget: float | None = None,
        max_tokens: int | None = None,
        refresh_shared: bool = False,
    ) -> tuple[Client, str]:
        """Create a client; returns it and its plaintext key, which is never stored or shown
        again. `namespace`: "shared", "private" (its own cache namespace) or a custom name
        that several clients can share."""
        name = name.strip()
        if not name:
            raise ValueError("keys: name must not be empty")
        if budget is not None and budget < 0:
            raise ValueError("keys: budget must be >= 0 USD")
        if max_tokens is not None and max_tokens < 1:
            raise ValueError("keys: max_tokens must be >= 1")
        if not namespace.strip():
            raise ValueError("keys: namespace must not be empty")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        client_id = "cl_" + secrets.token_hex(4)
        resolved = f"client:{client_id}" if namespace == "private" else namespace
        client = Client(
            id=client_id,
            name=name,
            namespace=resolved,
            budget_usd_month=budget,
            created_at=time.time(),
            key_prefix=key[: len(KEY_PREFIX) + 4],
            max_tokens=max_tokens,
            refresh_shared=refresh_shared,
        )
        try:
            with self._lock:
                self._conn.execute(
                    "INSERT INTO clients (id, name, key_hash, key_prefix, namespace, "
                    "budget_usd_month, created_at, max_tokens, refresh_shared) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        client.id,
                        name,
                        hash_key(key),
                        client.key_prefix,
                        resolved,
                        budget,
                        client.created_at,
                        max_tokens,
                        int(refresh_shared),
                    ),
                )
        except sqlite3.IntegrityError:
            raise ValueError(f"keys: a client named {name!r} already exists") from None
        self._reload()
        return client, key

    def list(self, include_revoked: bool = False) -> builtins.list[Client]:
        sql = _SELECT + ("" if include_revoked else " WHERE revoked_at IS NULL")
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY created_at").fetchall()
        return [_client(r) for r in rows]

    def get(self, client_id: str) -> Client | None:
        with self._lock:
            row = self._conn.execute(_SELECT + " WHERE id = ?", (client_id,)).fetchone()
        return None if row is None else _client(row)

    def revoke(self, name_or_id: str) -> bool:
        """Revoke the active client with this id or name; False if there is none."""
        with self._lock:
            cur = self._conn.execute(
                "UPDATE clients SET revoked_at = ? "
                "WHERE (id = ? OR name = ?) AND revoked_at IS NULL",
                (time.time(), name_or_id, name_or_id),
            )
        self._reload()
        return cur.rowcount > 0

    def set_budget(self, name_or_id: str, budget: float | None) -> bool:
        """Change an active client's monthly budget (None: unlimited); False if none."""
        if budget is not None and budget < 0:
            raise ValueError("keys: budget must be >= 0 USD")
        with self._lock:
            cur = self._conn.execute(
                "UPDATE clients SET budget_usd_month = ? "
                "WHERE (id = ? OR name = ?) AND revoked_at IS NULL",
                (budget, name_or_id, name_or_id),
            )
        self._reload()
        return cur.rowcount > 0

    def authenticate(self, key: str) -> Client | None:
        """The active client holding `key`, or None. Timing-safe (see module docstring)."""
        if not key:
            return None
        self._maybe_refresh()
        digest = hash_key(key)
        found = self._by_lookup.get(digest[:_LOOKUP_HEX])
        if found is None or not hmac.compare_digest(found[0], digest):
            return None
        return found[1]

    def has_keys(self) -> bool:
        """Whether any active key exists (no keys: the endpoint is open, as on first install)."""
        self._maybe_refresh()
        return bool(self._by_lookup)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
