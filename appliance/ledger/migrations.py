"""Numbered schema migrations (the llm habit): each is a function named `mNNN_what`, applied
once, in order, and recorded by name in a `_migrations` table, so only new ones run.

It owns the ledger's schema history and the runner that the key store reuses for its own
file. It must not hold data logic: a migration only creates or reshapes tables.

Never edit a migration that has shipped; add the next number instead. Several processes
(the daemon, `appliance report`, `appliance keys add`) may open the same file at once, so the
runner takes SQLite's write lock (BEGIN IMMEDIATE) before deciding what is new, and runs all
pending steps in that one transaction: a crash mid-way leaves the schema as it was.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]


class Migrations:
    """An ordered list of migrations for one database file."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._steps: list[Migration] = []

    def __call__(self, step: Migration) -> Migration:
        """Decorator: register `step` after the ones already registered."""
        if any(s.__name__ == step.__name__ for s in self._steps):
            raise ValueError(f"{self.name}: duplicate migration {step.__name__}")
        self._steps.append(step)
        return step

    @property
    def names(self) -> list[str]:
        return [s.__name__ for s in self._steps]

    def apply(self, conn: sqlite3.Connection) -> list[str]:
        """Run the migrations `conn`'s file has not seen; returns their names.

        `conn` must be in autocommit mode (`isolation_level=None`) so the transaction here
        is the only one.
        """
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)"
        )
        done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
        if all(s.__name__ in done for s in self._steps):
            return []
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have migrated meanwhile.
            done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
            ran: list[str] = []
            for step in self._steps:
                if step.__name__ in done:
                    continue
                step(conn)
                conn.execute(
                    "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                    (step.__name__, time.time()),
                )
                ran.append(step.__name__)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return ran


ledger_migrations = Migrations("ledger")


@ledger_migrations
def m001_initial(conn: sqlite3.Connection) -> None:
    # One row per backend attempt. Money is REAL USD: a double carries ~15 significant digits,
    # far below a cent over any realistic month of rows.
    conn.execute(
        """
        CREATE TABLE ledger (
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            request_id TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            client TEXT NOT NULL,
            tier TEXT NOT NULL,
            model TEXT NOT NULL,
            cache TEXT NOT NULL,
            route_score REAL,
            route_reason TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            cached_tokens INTEGER NOT NULL,
            cost_usd REAL NOT NULL,
            baseline_usd REAL NOT NULL,
            latency_ms REAL NOT NULL,
            status TEXT NOT NULL,
            estimated INTEGER NOT NULL,
            stream INTEGER NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX ledger_ts ON ledger (ts)")
    # Budgets seed per-client month-to-date spend at start-up from this index.
    conn.execute("CREATE INDEX ledger_client_ts ON ledger (client, ts)")


# Hourly totals per (client, tier), kept by the writer in the same transaction as the rows.
# Aggregates read whole hours from here and only the partial hours at a window's edges from
# `ledger`, so a month of millions of rows sums in milliseconds (a full scan took seconds).
ROLLUP_BUCKET_S = 3600

_ROLLUP_SUMS = """
    COUNT(*), TOTAL(attempt = 0), TOTAL(status = 'ok'), TOTAL(cost_usd), TOTAL(baseline_usd),
    TOTAL(prompt_tokens), TOTAL(completion_tokens), TOTAL(cached_tokens), TOTAL(cache = 'hit'),
    TOTAL(attempt = 0 AND cache IN ('hit', 'miss')), TOTAL(attempt = 1), TOTAL(status != 'ok'),
    TOTAL(estimated), TOTAL(stream), TOTAL(latency_ms)
"""


@ledger_migrations
def m002_hourly_rollup(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE ledger_rollup (
            bucket INTEGER NOT NULL,
            client TEXT NOT NULL,
            tier TEXT NOT NULL,
            attempts REAL NOT NULL,
            requests REAL NOT NULL,
            answers REAL NOT NULL,
            cost_usd REAL NOT NULL,
            baseline_usd REAL NOT NULL,
            prompt_tokens REAL NOT NULL,
            completion_tokens REAL NOT NULL,
            cached_tokens REAL NOT NULL,
            cache_hits REAL NOT NULL,
            cache_lookups REAL NOT NULL,
            escalations REAL NOT NULL,
            failed_attempts REAL NOT NULL,
            estimated_rows REAL NOT NULL,
            streamed_rows REAL NOT NULL,
            latency_ms REAL NOT NULL,
            PRIMARY KEY (bucket, client, tier)
        ) WITHOUT ROWID
        """
    )
    conn.execute(
        f"""
        INSERT INTO ledger_rollup
        SELECT CAST(ts / {ROLLUP_BUCKET_S} AS INTEGER) * {ROLLUP_BUCKET_S} AS b, client, tier,
               {_ROLLUP_SUMS}
        FROM ledger GROUP BY b, client, tier
        """
    )
