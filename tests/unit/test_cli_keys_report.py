"""`appliance keys add|list|revoke` and `appliance report`, driven through argparse."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from appliance.__main__ import build_parser
from appliance.ledger.db import Ledger
from appliance.ledger.prices import PriceTable
from appliance.ledger.rows import LedgerRow
from appliance.security.keys import KeyStore


def _run(*argv: str) -> int:
    args = build_parser().parse_args(argv)
    status: int = args.func(args)
    return status


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "appliance.toml"
    path.write_text('state_dir = "state"\n[ledger]\nserver_monthly_usd = 30.0\n')
    return str(path)


def test_keys_add_prints_only_the_key_on_stdout(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run("keys", "add", "alice", "--budget", "10", "--config", config) == 0
    out, err = capsys.readouterr()
    key = out.strip()
    assert key.startswith("sk-appl-") and "\n" not in key
    assert "alice" in err and "shown only once" in err
    store = KeyStore.open(tmp_path / "state")  # relative state_dir: next to the config
    client = store.authenticate(key)
    store.close()
    assert client is not None and client.budget_usd_month == 10.0


def test_keys_list_shows_clients_not_keys(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    _run("keys", "add", "alice", "--config", config)
    _run("keys", "add", "bob", "--namespace", "private", "--config", config)
    key = capsys.readouterr().out.split()[0]
    assert _run("keys", "list", "--config", config) == 0
    out = capsys.readouterr().out
    assert "alice" in out and "bob" in out and "client:cl_" in out
    assert key not in out and key[:12] + "..." in out


def test_keys_revoke(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    _run("keys", "add", "alice", "--config", config)
    assert _run("keys", "revoke", "alice", "--config", config) == 0
    assert _run("keys", "revoke", "alice", "--config", config) == 1
    capsys.readouterr()
    _run("keys", "list", "--config", config)
    assert "alice" not in capsys.readouterr().out
    _run("keys", "list", "--all", "--config", config)
    assert "alice (revoked)" in capsys.readouterr().out


def test_duplicate_name_fails_cleanly(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    _run("keys", "add", "alice", "--config", config)
    assert _run("keys", "add", "alice", "--config", config) == 1
    assert "already exists" in capsys.readouterr().err


def test_report_prints_the_table_with_client_names(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run("keys", "add", "alice", "--config", config)
    client = KeyStore.open(tmp_path / "state")
    client_id = client.list()[0].id
    client.close()
    with Ledger(tmp_path / "state" / "ledger.sqlite") as ledger:
        ledger.record_sync(
            [
                LedgerRow(
                    ts=time.time(),
                    request_id="r1",
                    client=client_id,
                    tier="local",
                    model="smol",
                    prompt_tokens=10,
                    completion_tokens=10,
                    cost_usd=0.0,
                    baseline_usd=0.02,
                    latency_ms=50.0,
                )
            ]
        )
    capsys.readouterr()
    assert _run("report", "--config", config) == 0
    out = capsys.readouterr().out
    assert out.startswith("Appliance report for " + time.strftime("%Y-%m"))
    assert "100.0%" in out and "alice" in out and "Server (fixed)   $30.0000" in out
    shipped = PriceTable.load()
    assert f"Prices           table dated {shipped.date} (" in out  # the table in use


def test_report_bad_month_and_bad_config(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run("report", "--month", "2026-13", "--config", config) == 2
    assert "YYYY-MM" in capsys.readouterr().err
    assert not (tmp_path / "state" / "ledger.sqlite").exists()
    assert _run("report", "--config", str(tmp_path / "nope.toml")) == 2
    assert "file not found" in capsys.readouterr().err
