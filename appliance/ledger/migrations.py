"""The ledger's schema history: numbered migrations run by `appliance.migrations`.

Never edit a migration that has shipped; add the next number instead.
"""

from __future__ import annotations

import sqlite3

from appliance.migrations import Migrations

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
