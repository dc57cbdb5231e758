"""`appliance prices show|update`, driven through argparse against a config in a temp dir."""

from __future__ import annotations

import datetime as dt
import hashlib
import stat
from pathlib import Path

import pytest

from appliance.__main__ import main
from appliance.cli.prices import describe
from appliance.config import Price, load_config
from appliance.ledger.prices import STATE_FILE, PriceTable, read_table, shipped_table
from tests.unit.ledger.test_genai_prices import genai_wheel

LATER = "2099-01-15"  # newer than any shipped snapshot, so the updated table is the one in use


def _run(*argv: str) -> int:
    """The real `appliance` command line, in process."""
    return main(list(argv))


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "appliance.toml"
    path.write_text(
        'state_dir = "state"\n'
        '[[tiers]]\nname = "local"\nbackend = "llamacpp"\n'
        '[[tiers]]\nname = "cheap"\nbackend = "openai"\nmodel = "gpt-4o-mini"\n'
        'base_url = "http://127.0.0.1:9/v1"\n'
        '[[tiers]]\nname = "frontier"\nbackend = "openai"\nmodel = "gpt-4o-2024-08-06"\n'
        'base_url = "http://127.0.0.1:9/v1"\n'
        '[ledger.prices."gpt-4o-mini"]\ninput = 0.1\noutput = 0.5\n'
    )
    return str(path)


def _newer_table(tmp_path: Path, gpt_4o: str = "input = 2.0, output = 8.0") -> Path:
    """The shipped table with gpt-4o and gpt-4o-mini repriced and one model added."""
    shipped = shipped_table()
    lines = [f'date = "{LATER}"', 'source = "our purchasing team"', "[models]"]
    for name, price in shipped.models.items():
        if name == "gpt-4o":
            lines.append(f'"gpt-4o" = {{ {gpt_4o} }}')
        elif name == "gpt-4o-mini":
            lines.append('"gpt-4o-mini" = { input = 0.2, output = 0.8 }')
        else:
            cached = "" if price.cached_input is None else f", cached_input = {price.cached_input}"
            lines.append(f'"{name}" = {{ input = {price.input}, output = {price.output}{cached} }}')
    lines.append('"house-model" = { input = 0.5, output = 0.5 }')
    path = tmp_path / "newer.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_update_writes_the_state_table_and_says_what_changed(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped_file = Path(__file__).parents[2] / "appliance/ledger/prices.toml"
    before = _digest(shipped_file)
    assert _run("prices", "update", str(_newer_table(tmp_path)), "--config", config) == 0
    out, err = capsys.readouterr()
    assert "reading " in err and "writing " in err  # progress on stderr
    assert "changed (2):" in out
    assert "  gpt-4o       input 2.5 -> 2, output 10 -> 8, cached_input 1.25 -> -\n" in out
    assert "added (1): house-model" in out
    # The frontier tier moves; the cheap tier's config override keeps winning, so it does not.
    assert "tier frontier (gpt-4o-2024-08-06): input 2.5 -> 2" in out
    assert "tier cheap" not in out
    last = out.strip().splitlines()[-1]
    assert last.startswith(f"prices updated: {tmp_path / 'state' / STATE_FILE} (price table dated")
    assert "2 changed, 1 added, 0 removed" in last and "Restart the appliance" in last

    written = tmp_path / "state" / STATE_FILE
    assert stat.S_IMODE(written.stat().st_mode) == 0o644
    assert [p.name for p in written.parent.iterdir()] == [STATE_FILE]  # no temp file left
    assert _digest(shipped_file) == before  # the shipped snapshot stays read-only
    table = PriceTable.for_config(load_config(config))
    assert (table.date, table.path) == (LATER, written)
    assert table.price_for("gpt-4o") == Price(input=2.0, output=8.0)
    assert table.price_for("gpt-4o-mini") == Price(input=0.1, output=0.5)  # the override


def test_dry_run_prints_the_changes_and_writes_nothing(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        _run("prices", "update", str(_newer_table(tmp_path)), "--dry-run", "--config", config) == 0
    )
    out = capsys.readouterr().out
    assert "changed (2):" in out and "dry run: would write" in out
    assert not (tmp_path / "state" / STATE_FILE).exists()


DATA_PY = (
    "providers = [Provider(id='openai', models=[ModelInfo(id='gpt-4o', "
    "match=ClauseEquals(equals='gpt-4o'), "
    "prices=ModelPrice(input_mtok=Decimal('2'), output_mtok=Decimal('8'))), "
    "ModelInfo(id='gpt-4o-mini', match=ClauseEquals(equals='gpt-4o-mini'), "
    "prices=ModelPrice(input_mtok=Decimal('0.15'), output_mtok=Decimal('0.6')))])]\n"
)


def _wheel(tmp_path: Path, version: str) -> Path:
    return genai_wheel(tmp_path, version, DATA_PY)


def test_an_older_genai_prices_is_refused_and_the_same_one_is_a_no_op(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state" / STATE_FILE
    newer = _wheel(tmp_path, "99.1.0")
    assert _run("prices", "update", str(newer), "--date", LATER, "--config", config) == 0
    assert read_table(state).dataset_version == "99.1.0"
    written = _digest(state)
    capsys.readouterr()

    older = _wheel(tmp_path, "99.0.9")
    assert _run("prices", "update", str(older), "--date", LATER, "--config", config) == 1
    assert "genai-prices 99.0.9 dated" in capsys.readouterr().err
    assert _digest(state) == written

    assert _run("prices", "update", str(newer), "--date", LATER, "--config", config) == 0
    out = capsys.readouterr().out
    assert "no price changed" in out and "already up to date" in out
    assert _digest(state) == written

    assert _run("prices", "update", str(older), "--date", LATER, "--force", "--config", config) == 0
    assert read_table(state).dataset_version == "99.0.9"


def test_no_installed_package_says_how_to_give_a_file(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.metadata

    try:
        importlib.metadata.distribution("genai-prices")
        pytest.skip("genai-prices is installed here")
    except importlib.metadata.PackageNotFoundError:
        pass
    assert _run("prices", "update", "--config", config) == 2
    assert "pip download genai-prices --no-deps" in capsys.readouterr().err


def test_output_regenerates_a_table_file_elsewhere(tmp_path: Path) -> None:
    target = tmp_path / "out" / "prices.toml"
    assert _run("prices", "update", str(_wheel(tmp_path, "1.0.0")), "--output", str(target)) == 0
    text = target.read_text()
    assert text.startswith("# Price table: USD per 1M tokens")
    assert "MIT License" in text and read_table(target).dataset_version == "1.0.0"


def test_show_gives_date_tiers_and_matching_models(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run("prices", "show", "gpt-4o-mini", "--config", config) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith(f"Price table dated {shipped_table().date} (")
    assert lines[0].endswith("shipped with the appliance")
    frontier = next(line for line in lines if line.startswith("frontier"))
    assert frontier.split()[2:5] == ["2.5", "10", "1.25"] and "table 'gpt-4o'" in frontier
    cheap = next(line for line in lines if line.startswith("cheap"))
    assert "config [ledger.prices.'gpt-4o-mini']" in cheap
    assert any(line.split()[:2] == ["gpt-4o-mini", "*"] for line in lines)  # overridden
    assert not any(line.startswith("claude") for line in lines)  # the pattern filters


def test_show_warns_when_the_table_is_stale(config: str) -> None:
    table = PriceTable.for_config(load_config(config))
    fresh = describe(table, load_config(config), dt.date.fromisoformat(table.date))
    assert not any(line.startswith("WARNING") for line in fresh)
    late = dt.date.fromisoformat(table.date) + dt.timedelta(days=75)
    stale = describe(table, load_config(config), late)
    assert stale[1].startswith("WARNING: the price table is 75 days old")
