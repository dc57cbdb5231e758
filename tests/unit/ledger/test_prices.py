"""The price table: lookup rules, which table is in use (shipped or updated) and its age, and
the one cost formula (cached tokens never billed twice)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from appliance.config import Config, ConfigError, LedgerConfig, Price, TierConfig
from appliance.ledger.prices import FREE, STATE_FILE, PriceTable, baseline_tier, cost


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load({})


def test_shipped_table_is_dated_and_sourced(table: PriceTable) -> None:
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", table.date)
    assert table.source.startswith("genai-prices ") and "MIT" in table.source
    assert table.path is None  # no state dir given: the shipped snapshot
    for model in (
        "gpt-4o",
        "gpt-4.1-nano",
        "o4-mini",
        "claude-sonnet-4-5",
        "gemini-2.5-pro",
        "mistral-large-latest",
        "llama-3.3-70b-versatile",
    ):
        assert table.price_for(model) is not None, model


def test_exact_match(table: PriceTable) -> None:
    assert table.price_for("gpt-4o") == Price(input=2.5, output=10.0, cached_input=1.25)


def test_case_insensitive_match(table: PriceTable) -> None:
    assert table.price_for("GPT-4o-Mini") == table.price_for("gpt-4o-mini")


def test_dated_snapshot_matches_longest_prefix(table: PriceTable) -> None:
    assert table.price_for("gpt-4o-2024-08-06") == table.price_for("gpt-4o")
    assert table.price_for("gpt-4o-mini-2024-07-18") == table.price_for("gpt-4o-mini")
    assert table.price_for("claude-sonnet-4-5-20250929") == table.price_for("claude-sonnet-4-5")
    assert table.price_for("claude-sonnet-4-20250514") == table.price_for("claude-sonnet-4")


def test_prefix_only_matches_at_a_separator(table: PriceTable) -> None:
    assert table.price_for("o3x") is None
    assert table.price_for("gpt-4.1x") is None
    # "gpt-5-pro" has its own (much higher) price; it must not fall back to "gpt-5".
    assert table.price_for("gpt-5-pro") != table.price_for("gpt-5")


def test_provider_path_is_stripped_when_nothing_else_matches(table: PriceTable) -> None:
    assert table.price_for("openrouter/openai/gpt-4o") == table.price_for("gpt-4o")
    hosted = table.price_for("meta-llama/Llama-3.3-70B-Instruct-Turbo")
    assert hosted is not None and hosted.input == 0.88


def test_unknown_model_has_no_price(table: PriceTable) -> None:
    assert table.price_for("my-finetune") is None
    assert table.price_for("") is None


def test_overrides_replace_and_extend_the_shipped_table() -> None:
    mine = Price(input=1.0, output=2.0)
    table = PriceTable.load({"gpt-4o": mine, "house-model": Price(input=0.5, output=0.5)})
    assert table.price_for("gpt-4o-2024-08-06") == mine
    assert table.price_for("HOUSE-MODEL") == Price(input=0.5, output=0.5)
    assert table.price_for("gpt-4.1") is not None


def test_cached_tokens_are_a_subset_of_prompt_tokens() -> None:
    price = Price(input=2.5, output=10.0, cached_input=1.25)
    # 600 uncached * 2.5 + 400 cached * 1.25 + 100 out * 10 = 3000 per 1M.
    assert cost(price, 1000, 100, cached_tokens=400) == pytest.approx(0.003, abs=1e-15)
    # Not 1000 * 2.5 + 400 * 1.25 + ... (the double-billing bug):
    assert cost(price, 1000, 100, cached_tokens=400) < cost(price, 1000, 100)


def test_cached_tokens_bill_at_input_without_a_cached_price() -> None:
    price = Price(input=3.0, output=15.0)
    assert cost(price, 1000, 100, cached_tokens=900) == cost(price, 1000, 100)


def test_cost_clamps_impossible_usage() -> None:
    price = Price(input=2.0, output=8.0, cached_input=0.5)
    assert cost(price, 100, 0, cached_tokens=500) == pytest.approx(100 * 0.5 / 1e6)
    assert cost(price, -5, -5, cached_tokens=-5) == 0.0


def test_local_tiers_are_free_and_explicit_prices_win(table: PriceTable) -> None:
    local = TierConfig(name="local", backend="llamacpp", model="gpt-4o")
    gpu = TierConfig(name="gpu", backend="vllm", model="mistral-7b")
    assert table.price_for_tier(local) == FREE
    assert table.price_for_tier(gpu) == FREE
    priced = TierConfig(name="x", backend="openai", model="gpt-4o", price=Price(input=9, output=9))
    assert table.price_for_tier(priced) == Price(input=9, output=9)
    cloud = TierConfig(name="cloud", backend="openai", model="gpt-4.1-mini")
    assert table.price_for_tier(cloud) == table.price_for("gpt-4.1-mini")


def test_unpriced_remote_tiers_are_reported(table: PriceTable) -> None:
    config = Config(
        tiers=[
            TierConfig(name="local", backend="llamacpp"),
            TierConfig(name="lan", backend="openai", model="qwen-local", base_url="http://x"),
            TierConfig(name="cloud", backend="openai", model="gpt-4o", base_url="http://y"),
        ]
    )
    assert table.unpriced_tiers(config) == ["lan"]
    assert table.price_for_tier(config.tiers[1]) == FREE


def test_baseline_tier_defaults_to_the_last_tier() -> None:
    tiers = [
        TierConfig(name="local", backend="llamacpp"),
        TierConfig(name="mid", backend="openai", model="gpt-4.1-mini"),
        TierConfig(name="top", backend="openai", model="gpt-4.1"),
    ]
    assert baseline_tier(Config(tiers=tiers)).name == "top"
    named = Config(tiers=tiers, ledger=LedgerConfig(baseline_tier="mid"))
    assert baseline_tier(named).name == "mid"


def _write_table(path: Path, date: str, models: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'date = "{date}"\nsource = "test"\n[models]\n{models}\n')
    return path


def test_an_updated_table_in_the_state_dir_replaces_the_shipped_one(tmp_path: Path) -> None:
    shipped = PriceTable.load()
    later = dt.date.fromisoformat(shipped.date) + dt.timedelta(days=1)
    updated = _write_table(
        tmp_path / STATE_FILE, later.isoformat(), '"gpt-4o" = { input = 2.0, output = 8.0 }'
    )
    table = PriceTable.load({}, tmp_path)
    assert (table.date, table.path) == (later.isoformat(), updated)
    assert table.price_for("gpt-4o-2024-08-06") == Price(input=2.0, output=8.0)
    assert table.price_for("claude-sonnet-4-5") is None  # a whole table, not a patch


def test_an_older_state_table_does_not_shadow_a_newer_shipped_one(tmp_path: Path) -> None:
    shipped = PriceTable.load()
    _write_table(tmp_path / STATE_FILE, "2020-01-01", '"gpt-4o" = { input = 99, output = 99 }')
    table = PriceTable.load({}, tmp_path)
    assert (table.date, table.path) == (shipped.date, None)
    assert table.price_for("gpt-4o") == shipped.price_for("gpt-4o")


def test_config_overrides_win_over_an_updated_table(tmp_path: Path) -> None:
    _write_table(tmp_path / STATE_FILE, "2099-01-01", '"gpt-4o" = { input = 2.0, output = 8.0 }')
    mine = Price(input=1.0, output=1.0)
    table = PriceTable.load({"gpt-4o": mine}, tmp_path)
    assert table.price_for("gpt-4o-2024-08-06") == mine
    cloud = TierConfig(name="cloud", backend="openai", model="gpt-4o")
    assert table.pricing_for_tier(cloud) == (mine, "config [ledger.prices.'gpt-4o']")


def test_a_broken_state_table_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text('date = "2099-01-01"\n[models]\n')  # no source
    with pytest.raises(ConfigError, match=r"prices\.toml.*source"):
        PriceTable.load({}, tmp_path)


def test_age_and_staleness_warning() -> None:
    table = PriceTable(prices={}, date="2026-01-01")
    assert table.age_days(dt.date(2026, 3, 2)) == 60
    assert (
        not table.is_stale(dt.date(2026, 3, 2)) and table.stale_warning(dt.date(2026, 3, 2)) is None
    )
    assert table.is_stale(dt.date(2026, 3, 3))
    warning = table.stale_warning(dt.date(2026, 3, 3))
    assert warning is not None and "61 days old" in warning and "appliance prices update" in warning


def test_how_each_tier_is_priced_is_said_in_words(table: PriceTable) -> None:
    said = [
        table.pricing_for_tier(tier)[1]
        for tier in (
            TierConfig(name="local", backend="llamacpp"),
            TierConfig(name="x", backend="openai", model="gpt-4o", price=Price(input=1, output=1)),
            TierConfig(name="cloud", backend="openai", model="gpt-4o-2024-08-06"),
            TierConfig(name="lan", backend="openai", model="qwen-local"),
        )
    ]
    assert said == [
        "free: llamacpp runs on this box",
        "the tier's own price (config)",
        "table 'gpt-4o'",
        "UNPRICED: no table entry, billed as free",
    ]
