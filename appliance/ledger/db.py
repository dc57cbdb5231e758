"""The ledger's storage: one SQLite row per backend attempt, durable before it is acknowledged.

It owns the file (WAL mode under the state dir), the single writer thread, and plain reads.
It must not compute prices or totals (`prices`, `aggregates` do) nor decide what a failed
write means for the request (the pipeline does; it gets a `LedgerWriteError`).

Why one writer thread that batches: SQLite allows one writer at a time, and a commit costs
far more than an insert. Callers enqueue their rows and wait; the thread takes everything
queued since its last commit and writes it in one transaction, then wakes every caller whose
rows it holds. Under load, batches grow by themselves and throughput follows; idle, a single
row is written at once (no timer, so no added latency). `record()` returns only after COMMIT.

Why WAL + synchronous=NORMAL is enough: on COMMIT, SQLite has write()n the frames to the
`-wal` file, so they sit in the operating system's page cache, which outlives the process.
`kill -9`, an OOM kill or a crash of the daemon therefore loses no committed row; the next
open replays the WAL. Only an OS crash or power cut can lose the last commits (never corrupt
the file); `Ledger(path, synchronous="FULL")` fsyncs each commit for that case, at ~1 ms each.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from appliance.ledger.migrations import ledger_migrations
from appliance.ledger.rows import COLUMNS, INSERT, ROLLUP_UPSERT, LedgerRow, rollup

_MAX_BATCH_ROWS = 2000

LEDGER_FILE = "ledger.sqlite"


class LedgerError(Exception):
    """The ledger could not do what was asked."""


class LedgerWriteError(LedgerError):
    """Rows were not stored (disk full, read-only state dir, closed ledger).

    Raised by `record()` so the caller knows the rows are *not* durable; the same message stays
    in `Ledger.health()` for the admin API and the TUI.
    """


@dataclass(frozen=True, slots=True)
class LedgerHealth:
    """What `/readyz` and the TUI show. `ok` is whether the latest write succeeded;
    `last_error` keeps the latest failure (with its time) even after writes recover."""

    path: str
    ok: bool
    last_error: str | None
    last_error_at: float | None
    last_commit_at: float | None
    rows_written: int
    pending: int


@dataclass(slots=True, eq=False)
class _Pending:
    rows: list[LedgerRow]
    done: concurrent.futures.Future[None]
    waiting: bool = False


class Ledger:
    """The ledger file. Create once per process (in the lifespan); `close()` at shutdown.

    Reads (`rows`, `query`) use their own connection, so reports never wait on the writer
    and see only committed rows.
    """

    def __init__(
        self,
        path: Path,
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        max_size_mb: float | None = None,
        busy_timeout_s: float = 5.0,
    ) -> None:
        """Open (creating and migrating if needed). Raises `LedgerWriteError` naming the path
        when the state dir cannot hold the file, so a bad state dir is one clear message.

        `max_size_mb` caps the file (SQLite `max_page_count`); past it writes fail like a
        full disk, which bounds a ledger on a small box and lets tests produce that state.
        """
        self.path = Path(path)
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._lock = threading.Lock()  # orders close() against new submissions
        self._read_lock = threading.Lock()
        self._closed = False
        self._ok = True
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._last_commit_at: float | None = None
        self._rows_written = 0
        self._pending_rows = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = self._connect(busy_timeout_s)
            self._writer.execute("PRAGMA journal_mode=WAL")
            self._writer.execute(f"PRAGMA synchronous={synchronous}")
            if max_size_mb is not None:
                page_size = self._writer.execute("PRAGMA page_size").fetchone()[0]
                pages = max(1, math.ceil(max_size_mb * 1024 * 1024 / page_size))
                self._writer.execute(f"PRAGMA max_page_count={pages}")
            ledger_migrations.apply(self._writer)
            self._reader = self._connect(busy_timeout_s)
            self._reader.execute("PRAGMA query_only=ON")
        except (sqlite3.Error, OSError) as exc:
            for name in ("_writer", "_reader"):
                conn = getattr(self, name, None)
                if conn is not None:
                    conn.close()
            raise LedgerWriteError(f"ledger: cannot open {self.path}: {exc}") from exc
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
        self._thread.start()

    def _connect(self, busy_timeout_s: float) -> sqlite3.Connection:
        # Autocommit mode: every transaction here is an explicit BEGIN ... COMMIT.
        return sqlite3.connect(
            self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )

    # -- writing ------------------------------------------------------------------------

    async def record(self, rows: list[LedgerRow]) -> None:
        """Store `rows`; returns once they are committed. Raises `LedgerWriteError` if not.

        Cancelling the awaiting task does not withdraw the rows: a client that disconnects
        mid-stream still spent the tokens, so they are written anyway.
        """
        if rows:
            await asyncio.wrap_future(self._submit(rows))

    def record_sync(self, rows: list[LedgerRow]) -> None:
        """`record()` for threads and scripts; blocks until committed."""
        if rows:
            self._submit(rows).result()

    def _submit(self, rows: list[LedgerRow]) -> concurrent.futures.Future[None]:
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise LedgerWriteError(f"ledger: {self.path} is closed")
            self._pending_rows += len(rows)
            self._queue.put(_Pending(list(rows), done))
        return done

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            size = len(first.rows)
            while size < _MAX_BATCH_ROWS:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
                size += len(item.rows)
            self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        for p in batch:
            # Mark running first: from here on a cancelled waiter cannot un-record its rows.
            p.waiting = p.done.set_running_or_notify_cancel()
        try:
            self._commit([row for p in batch for row in p.rows])
        except Exception as exc:  # any error: the writer thread must never die
            if len(batch) == 1:
                self._fail(batch[0], exc)
                return
            # One bad row must not fail its neighbours: retry each caller alone.
            for p in batch:
                try:
                    self._commit(p.rows)
                except Exception as one_exc:
                    self._fail(p, one_exc)
                else:
                    self._succeed(p)
            return
        for p in batch:
            self._succeed(p)

    def _succeed(self, p: _Pending) -> None:
        with self._lock:
            self._pending_rows -= len(p.rows)
        if p.waiting:
            p.done.set_result(None)

    def _commit(self, rows: list[LedgerRow]) -> None:
        conn = self._writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(INSERT, [row.params() for row in rows])
            conn.executemany(ROLLUP_UPSERT, rollup(rows))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
                conn.execute("ROLLBACK")
            raise
        self._ok = True
        self._last_commit_at = time.time()
        self._rows_written += len(rows)

    def _fail(self, p: _Pending, exc: Exception) -> None:
        message = f"ledger: write to {self.path} failed: {exc}"
        self._ok = False
        self._last_error = message
        self._last_error_at = time.time()
        with self._lock:
            self._pending_rows -= len(p.rows)
        if p.waiting:
            error = LedgerWriteError(message)
            error.__cause__ = exc
            p.done.set_exception(error)

    def health(self) -> LedgerHealth:
        return LedgerHealth(
            path=str(self.path),
            ok=self._ok and not self._closed,
            last_error=self._last_error,
            last_error_at=self._last_error_at,
            last_commit_at=self._last_commit_at,
            rows_written=self._rows_written,
            pending=self._pending_rows,
        )

    # -- reading ------------------------------------------------------------------------

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """A read-only SQL query on the ledger (for `aggregates`); committed rows only.

        It runs on the caller's thread: in the daemon call aggregates through
        `asyncio.to_thread` (a month's summary takes tens of milliseconds at 300k rows).
        """
        with self._read_lock:
            return self._reader.execute(sql, params).fetchall()

    def rows(
        self, since: float | None = None, until: float | None = None, limit: int | None = None
    ) -> list[LedgerRow]:
        """Rows with `since <= ts < until`, oldest first."""
        sql = f"SELECT {COLUMNS} FROM ledger WHERE ts >= ? AND ts < ? ORDER BY ts, id"
        params: tuple[Any, ...] = (
            -math.inf if since is None else since,
            math.inf if until is None else until,
        )
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        return [LedgerRow.from_db(r) for r in self.query(sql, params)]

    # -- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Write what is queued, stop the writer, close the file. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join()
        self._writer.close()
        with self._read_lock:
            self._reader.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
