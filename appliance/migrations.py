"""Numbered schema migrations (the llm habit): each is a function named `mNNN_what`, applied
once, in order, and recorded by name in a `_migrations` table, so only new ones run.

It owns the runner; each database's own steps live beside the data they shape
(`ledger/migrations.py`, `security/keys.py`). A migration only creates or reshapes tables.

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
