"""Client keys (hashed at rest, timing-safe checks, revocation), the admin token, budgets."""

from __future__ import annotations

import hashlib
import stat
import time
from pathlib import Path

import pytest

from appliance.config import ConfigError
from appliance.ledger.aggregates import month_bounds
from appliance.ledger.budgets import BudgetTracker
from appliance.ledger.db import Ledger
from appliance.ledger.rows import LedgerRow
from appliance.security.admin_token import check_bearer, load_or_create_admin_token
from appliance.security.keys import Client, KeyStore


class _Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    opened = KeyStore.open(tmp_path)
    yield opened
    opened.close()


def test_key_is_returned_once_and_stored_only_as_a_hash(store: KeyStore, tmp_path: Path) -> None:
    client, key = store.add("alice")
    assert key.startswith("sk-appl-") and len(key) == len("sk-appl-") + 43
    store.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("keys.sqlite*"))
    assert key.encode() not in stored
    assert key[len("sk-appl-") :].encode() not in stored
    assert hashlib.sha256(key.encode()).hexdigest().encode() in stored
    assert client.key_prefix == key[:12]


def test_keys_file_is_private(store: KeyStore, tmp_path: Path) -> None:
    store.add("alice")
    assert stat.S_IMODE((tmp_path / "keys.sqlite").stat().st_mode) == 0o600


def test_authenticate_accepts_only_the_exact_key(store: KeyStore) -> None:
    client, key = store.add("alice", budget=5.0)
    assert store.authenticate(key) == client
    assert store.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert store.authenticate(key + "x") is None
    assert store.authenticate("") is None
    assert store.authenticate("sk-appl-") is None


def test_revoke_by_name_or_id(store: KeyStore) -> None:
    _, alice_key = store.add("alice")
    bob, bob_key = store.add("bob")
    assert store.revoke("alice") is True
    assert store.authenticate(alice_key) is None
    assert store.revoke("alice") is False
    assert store.revoke(bob.id) is True
    assert store.authenticate(bob_key) is None
    assert store.revoke("nobody") is False
    assert store.list() == []
    assert {c.name for c in store.list(include_revoked=True)} == {"alice", "bob"}


def test_names_are_unique_among_active_keys(store: KeyStore) -> None:
    store.add("alice")
    with pytest.raises(ValueError, match="already exists"):
        store.add("alice")
    store.revoke("alice")
    _, key = store.add("alice")  # reusable once revoked
    assert store.authenticate(key) is not None


def test_namespaces(store: KeyStore) -> None:
    shared, _ = store.add("a")
    private, _ = store.add("b", namespace="private")
    team, _ = store.add("c", namespace="team-x", budget=12.5)
    assert shared.namespace == "shared"
    assert private.namespace == f"client:{private.id}"
    assert team.namespace == "team-x" and team.budget_usd_month == 12.5
    assert [c.namespace for c in store.list()] == ["shared", f"client:{private.id}", "team-x"]


def test_bad_input_is_rejected(store: KeyStore) -> None:
    with pytest.raises(ValueError):
        store.add("  ")
    with pytest.raises(ValueError):
        store.add("x", budget=-1)


def test_a_key_added_by_another_process_is_seen_after_refresh(tmp_path: Path) -> None:
    clock = _Clock()
    daemon = KeyStore(tmp_path / "keys.sqlite", refresh_s=1.0, clock=clock)
    assert daemon.has_keys() is False
    cli = KeyStore.open(tmp_path)
    _, key = cli.add("alice")
    assert daemon.authenticate(key) is None  # cached view, not yet refreshed
    clock.now += 1.5
    assert daemon.has_keys() is True
    assert daemon.authenticate(key) is not None
    cli.revoke("alice")
    clock.now += 1.5
    assert daemon.authenticate(key) is None and daemon.has_keys() is False
    cli.close()
    daemon.close()


def test_set_budget(store: KeyStore) -> None:
    _, key = store.add("alice")
    assert store.set_budget("alice", 3.0) is True
    found = store.authenticate(key)
    assert found is not None and found.budget_usd_month == 3.0
    assert store.set_budget("nobody", 1.0) is False


def test_admin_token_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    token = load_or_create_admin_token(tmp_path / "state")
    path = tmp_path / "state" / "admin_token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(token) >= 40
    assert load_or_create_admin_token(tmp_path / "state") == token


def test_admin_token_from_config_or_file(tmp_path: Path) -> None:
    assert load_or_create_admin_token(tmp_path, configured="abc") == "abc"
    file = tmp_path / "tok"
    file.write_text("from-file\n")
    assert load_or_create_admin_token(tmp_path, token_file=str(file)) == "from-file"
    with pytest.raises(ConfigError, match=r"security\.admin_token_file"):
        load_or_create_admin_token(tmp_path, token_file=str(tmp_path / "missing"))
    assert not (tmp_path / "admin_token").exists()


def test_check_bearer() -> None:
    assert check_bearer("Bearer s3cret", "s3cret")
    assert check_bearer("bearer s3cret", "s3cret")
    assert not check_bearer("Bearer s3cre", "s3cret")
    assert not check_bearer("Basic s3cret", "s3cret")
    assert not check_bearer(None, "s3cret")
    assert not check_bearer("Bearer ", "")
    assert not check_bearer("Bearer \u00e9\u00e9", "s3cret")  # non-ASCII does not raise


def _spend(ts: float, client: str, usd: float) -> LedgerRow:
    return LedgerRow(
        ts=ts,
        request_id=f"{client}-{ts}",
        client=client,
        tier="cloud",
        model="m",
        prompt_tokens=1,
        completion_tokens=1,
        cost_usd=usd,
        baseline_usd=usd,
        latency_ms=1.0,
    )


def test_budget_tracker_seeds_from_the_ledger_and_rolls_over(tmp_path: Path) -> None:
    now = time.mktime((2026, 11, 15, 12, 0, 0, 0, 0, -1))
    month_start, month_end = month_bounds(now)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.record_sync(
            [_spend(now - 3600, "cl_a", 4.0), _spend(month_start - 10, "cl_a", 50.0)]
        )
        clock = _Clock(now)
        budgets = BudgetTracker(ledger, clock=clock)
        alice = Client(id="cl_a", name="alice", namespace="shared", budget_usd_month=5.0)
        free = Client(id="cl_f", name="free", namespace="shared")
        assert budgets.spent("cl_a") == pytest.approx(4.0)  # last month's 50 not counted
        assert budgets.remaining(alice) == pytest.approx(1.0)
        assert not budgets.is_exhausted(alice)
        budgets.add("cl_a", 1.25)
        assert budgets.remaining(alice) == 0.0 and budgets.is_exhausted(alice)
        assert budgets.remaining(free) is None and not budgets.is_exhausted(free)
        # Next month: reseeded from the ledger (a row already written in the new month counts).
        ledger.record_sync([_spend(month_end + 5, "cl_a", 0.5)])
        clock.now = month_end + 60
        assert budgets.spent("cl_a") == pytest.approx(0.5)
        assert budgets.remaining(alice) == pytest.approx(4.5)
