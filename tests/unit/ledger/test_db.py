"""The ledger file: round trips, batching under concurrency, durability across kill -9,
and write failures that are reported instead of crashing."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from appliance.ledger.db import Ledger, LedgerWriteError
from appliance.ledger.rows import LedgerRow

REPO = Path(__file__).resolve().parents[3]


def _row(request_id: str = "r", **fields: object) -> LedgerRow:
    values: dict[str, object] = dict(
        ts=1_000.0,
        request_id=request_id,
        client="c",
        tier="local",
        model="m",
        prompt_tokens=10,
        completion_tokens=5,
        cost_usd=0.0,
        baseline_usd=0.001,
        latency_ms=12.5,
    )
    values.update(fields)
    return LedgerRow(**values)  # type: ignore[arg-type]


@pytest.fixture
def ledger(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Ledger(tmp_path / "ledger.sqlite") as opened:
        yield opened


def test_round_trip_keeps_every_field(ledger: Ledger) -> None:
    row = LedgerRow(
        ts=1234.5,
        request_id="req-1",
        attempt=2,
        client="cl_1",
        tier="cloud",
        model="gpt-4o",
        cache="bypass",
        route_score=0.73,
        route_reason="score>=cut[1]",
        prompt_tokens=1000,
        completion_tokens=200,
        cached_tokens=400,
        cost_usd=0.0035,
        baseline_usd=0.0035,
        latency_ms=812.25,
        status="error:timeout",
        estimated=True,
        stream=True,
    )
    none_score = _row("req-2", ts=2000.0, route_score=None)
    asyncio.run(ledger.record([row, none_score]))
    assert ledger.rows() == [row, none_score]
    assert ledger.rows()[1].route_score is None
    assert list(row.to_dict())[:3] == ["ts", "request_id", "attempt"]


def test_rows_filters_by_time_and_limit(ledger: Ledger) -> None:
    ledger.record_sync([_row(f"r{i}", ts=float(i)) for i in range(10)])
    assert [r.request_id for r in ledger.rows(since=3, until=6)] == ["r3", "r4", "r5"]
    assert [r.request_id for r in ledger.rows(since=8)] == ["r8", "r9"]
    assert [r.request_id for r in ledger.rows(limit=2)] == ["r0", "r1"]


def test_concurrent_recorders_are_all_stored_in_batches(ledger: Ledger) -> None:
    async def main() -> None:
        await asyncio.gather(*(ledger.record([_row(f"r{i}")]) for i in range(500)))

    asyncio.run(main())
    assert {r.request_id for r in ledger.rows()} == {f"r{i}" for i in range(500)}
    health = ledger.health()
    assert health.ok and health.rows_written == 500 and health.pending == 0
    assert health.last_error is None


def test_file_is_wal_and_migrated_once(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger(path).close()
    Ledger(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    names = [r[0] for r in conn.execute("SELECT name FROM _migrations")]
    assert names == ["m001_initial", "m002_hourly_rollup"]


def test_a_cancelled_caller_still_records_its_rows(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")

    async def main() -> None:
        task = asyncio.create_task(ledger.record([_row("cancelled")]))
        await asyncio.sleep(0)  # let it enqueue
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    ledger.close()
    with Ledger(tmp_path / "ledger.sqlite") as reopened:
        assert [r.request_id for r in reopened.rows()] == ["cancelled"]


def test_one_bad_row_does_not_fail_its_batch_neighbours(ledger: Ledger) -> None:
    async def main() -> list[object]:
        good = [ledger.record([_row(f"g{i}")]) for i in range(20)]
        bad = ledger.record([_row("bad", prompt_tokens=object())])
        return await asyncio.gather(*good, bad, return_exceptions=True)

    results = asyncio.run(main())
    assert results[:20] == [None] * 20
    assert isinstance(results[20], LedgerWriteError)
    assert {r.request_id for r in ledger.rows()} == {f"g{i}" for i in range(20)}


def test_writer_survives_a_row_that_breaks_python_not_sqlite(ledger: Ledger) -> None:
    with pytest.raises(LedgerWriteError):
        ledger.record_sync([_row("bad", prompt_tokens="ten")])  # SQLite would store it
    ledger.record_sync([_row("good")])
    assert [r.request_id for r in ledger.rows()] == ["good"]  # the bad insert rolled back
    assert ledger.health().ok


def test_full_disk_raises_a_clear_error_and_stays_visible(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path, max_size_mb=0.1)
    stored = 0
    with pytest.raises(LedgerWriteError, match="full"):
        for i in range(10_000):
            ledger.record_sync([_row(f"r{i}", route_reason="x" * 500)])
            stored += 1
    health = ledger.health()
    assert not health.ok
    assert health.last_error is not None and "full" in health.last_error
    assert str(path) in health.last_error
    assert len(ledger.rows()) == stored  # acknowledged rows are intact
    ledger.close()
    with Ledger(path) as uncapped:  # space freed: writes work again
        uncapped.record_sync([_row("after")])
        assert uncapped.rows()[-1].request_id == "after"
        assert uncapped.health().ok


def test_unusable_state_dir_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(LedgerWriteError, match="cannot open"):
        Ledger(blocker / "ledger.sqlite")


def test_closed_ledger_refuses_writes(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.close()
    ledger.close()
    with pytest.raises(LedgerWriteError, match="closed"):
        ledger.record_sync([_row()])
    assert not ledger.health().ok


_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from appliance.ledger.db import Ledger
    from appliance.ledger.rows import LedgerRow

    async def main() -> None:
        ledger = Ledger(Path(sys.argv[1]))

        async def one(i: int) -> None:
            rid = f"r{i}"
            await ledger.record([LedgerRow(ts=float(i), request_id=rid, client="c", tier="t",
                model="m", prompt_tokens=1, completion_tokens=1, cost_usd=0.0,
                baseline_usd=0.0, latency_ms=1.0)])
            sys.stdout.write(rid + "\\n")
            sys.stdout.flush()

        i = 0
        while True:
            await asyncio.gather(*(one(i + k) for k in range(16)))
            i += 16

    asyncio.run(main())
    """
)


def test_kill_9_loses_no_acknowledged_row(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, env=env, cwd=REPO
    )
    assert proc.stdout is not None
    acknowledged: list[str] = []
    deadline = time.monotonic() + 30
    while len(acknowledged) < 400 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acknowledged.append(line.decode().strip())
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL  # killed mid-stream, not finished
    # Anything printed was acknowledged; a torn last line (no newline) is not counted.
    acknowledged += [line for line in rest.decode().split("\n")[:-1] if line]
    assert len(acknowledged) >= 400

    with Ledger(path) as reopened:
        stored = {r.request_id for r in reopened.rows()}
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged rows lost, e.g. {sorted(missing)[:5]}"
