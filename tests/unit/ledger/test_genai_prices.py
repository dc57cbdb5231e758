"""genai-prices -> our table: which rate is kept, which name wins, and that the dataset's
`data.py` is read as data (never run), from a wheel, an installed package or its JSON."""

from __future__ import annotations

import datetime
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from appliance.config import Price
from appliance.ledger.genai_prices import convert
from appliance.ledger.price_sources import compare, is_older, read_source, render_toml
from appliance.ledger.prices import PricesError, PriceTable, TableFile, read_table

DATE = "2026-12-02"
TODAY = datetime.date(2026, 12, 2)

# The dataset's JSON shape (prices/data.json), trimmed to the cases the conversion handles.
PROVIDERS: list[dict[str, Any]] = [
    {  # listed first, ranked below Anthropic: its alias for an Anthropic name must not win
        "id": "aws",
        "models": [
            {
                "id": "regional.claude-x-v1:0",
                "match": {"or": [{"starts_with": "claude-x-2026"}, {"contains": "eu.claude-x"}]},
                "prices": {"input_mtok": 3.3, "output_mtok": 16.5},
            }
        ],
    },
    {
        "id": "anthropic",
        "model_match": {"contains": "claude"},
        "models": [
            {
                "id": "claude-x",
                "match": {"starts_with": "claude-x"},
                "prices": {
                    "input_mtok": {"base": 3, "tiers": [{"start": 200000, "price": 6}]},
                    "output_mtok": {"base": 15, "tiers": [{"start": 200000, "price": 22.5}]},
                    "cache_read_mtok": 0.3,
                },
            },
            {  # same price as claude-x, but a model of its own: it keeps its name
                "id": "claude-x-mini",
                "match": {"equals": "claude-x-mini"},
                "prices": {"input_mtok": 3, "output_mtok": 15, "cache_read_mtok": 0.3},
            },
        ],
    },
    {
        "id": "openai",
        "model_match": {"starts_with": "gpt-"},
        "models": [
            {
                "id": "gpt-9",
                "match": {
                    "or": [
                        {"equals": "gpt-9"},
                        {"equals": "gpt-9-2026-01-01"},  # same price: redundant
                        {"and": [{"starts_with": "gpt-9-"}, {"ends_with": "-eu"}]},
                    ]
                },
                "prices": [
                    {"prices": {"input_mtok": 4, "output_mtok": 16}},
                    {
                        "constraint": {"start_date": "2026-06-01"},
                        "prices": {"input_mtok": 2, "output_mtok": 8},
                    },
                    {  # announced, not yet in force on DATE
                        "constraint": {"start_date": "2027-01-01"},
                        "prices": {"input_mtok": 1, "output_mtok": 4},
                    },
                ],
            },
            {
                "id": "gpt-9-old",
                "match": {"or": [{"equals": "gpt-9-old"}, {"equals": "g9"}]},
                "prices": {"input_mtok": 5, "output_mtok": 15},
            },
            {
                "id": "o9",
                "match": {"equals": "o9"},
                "prices": {"input_mtok": 10, "output_mtok": 40},
            },
            {"id": "embed-9", "match": {"equals": "embed-9"}, "prices": {"input_mtok": 0.02}},
        ],
    },
    {
        "id": "deepseek",
        "models": [
            {
                "id": "deepseek-chat",
                "match": {"equals": "deepseek-chat"},
                "prices": [
                    {"prices": {"input_mtok": 0.27, "output_mtok": 1.1}},
                    {
                        "constraint": {"start_time": "16:30:00", "end_time": "00:30:00"},
                        "prices": {"input_mtok": 0.135, "output_mtok": 0.55},
                    },
                ],
            }
        ],
    },
]

DATA_PY = """\
import datetime
from decimal import Decimal

from .types import *

providers: list[Provider] = [
    Provider(
        id='openai',
        model_match=ClauseStartsWith(starts_with='gpt-'),
        models=[
            ModelInfo(
                id='gpt-9',
                match=ClauseOr(
                    or_=[ClauseEquals(equals='gpt-9'), ClauseStartsWith(starts_with='gpt-9-turbo')]
                ),
                prices=[
                    ConditionalPrice(
                        prices=ModelPrice(input_mtok=Decimal('4'), output_mtok=Decimal('16'))
                    ),
                    ConditionalPrice(
                        constraint=StartDateConstraint(start_date=datetime.date(2026, 6, 1)),
                        prices=ModelPrice(
                            input_mtok=Decimal('2'),
                            output_mtok=Decimal('8'),
                            cache_read_mtok=Decimal('0.5'),
                        ),
                    ),
                    ConditionalPrice(
                        constraint=TimeOfDateConstraint(
                            start_time=datetime.time(16, 30, tzinfo=datetime.UTC),
                            end_time=datetime.time(0, 30),
                        ),
                        prices=ModelPrice(input_mtok=Decimal('1'), output_mtok=Decimal('4')),
                    ),
                ],
            ),
        ],
    ),
]
"""


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable(prices=convert(PROVIDERS, date=DATE, version="1.2.3").models)


def test_base_rates_in_force_on_the_tables_date(table: PriceTable) -> None:
    assert table.price_for("gpt-9") == Price(input=2.0, output=8.0)
    # Long-context tiers: the rate below the first tier; cache reads kept.
    assert table.price_for("claude-x") == Price(input=3.0, output=15.0, cached_input=0.3)
    # Off-peak (time-of-day) discounts are left out; the standard price stays.
    assert table.price_for("deepseek-chat") == Price(input=0.27, output=1.1)
    assert table.price_for("embed-9") is None  # no output rate: not a chat model


def test_a_name_takes_the_price_of_the_provider_whose_rule_claims_it(table: PriceTable) -> None:
    # AWS lists "claude-x-2026…" at its regional +10%; the name is Anthropic's.
    assert table.price_for("claude-x-20260101") == table.price_for("claude-x")
    # AWS's own model id is AWS's alone and keeps AWS's price.
    assert table.price_for("regional.claude-x-v1:0") == Price(input=3.3, output=16.5)


def test_redundant_aliases_go_model_ids_and_short_ids_stay(table: PriceTable) -> None:
    names = set(table.prices)
    assert "gpt-9-2026-01-01" not in names  # the prefix rule gives gpt-9's price anyway
    assert table.price_for("gpt-9-2026-01-01") == table.price_for("gpt-9")
    assert {"claude-x-mini", "o9", "gpt-9-old"} <= names
    assert "g9" not in names  # aliases shorter than 3 characters would swallow names
    assert not any(name.endswith("-eu") or name == "gpt-9-" for name in names)  # `and` rules


def test_data_py_is_evaluated_as_data_not_run(tmp_path: Path) -> None:
    source = tmp_path / "data.py"
    source.write_text(DATA_PY)
    converted = read_source(source, today=TODAY, date=DATE)
    # The June price with its cache rate; the 16:30 time-of-day row is left out, so its
    # `tzinfo=datetime.UTC` (an attribute, not a literal) never needs evaluating.
    assert converted.models == {"gpt-9": Price(input=2.0, output=8.0, cached_input=0.5)}
    marker = tmp_path / "ran"
    source.write_text(f"providers = [__import__('pathlib').Path({str(marker)!r}).touch()]\n")
    with pytest.raises(PricesError, match="unexpected"):
        read_source(source, today=TODAY)
    assert not marker.exists()


def genai_wheel(path: Path, version: str, data_py: str = DATA_PY) -> Path:
    """A genai-prices wheel as `pip download` leaves it, with `data_py` as its data."""
    wheel = path / f"genai_prices-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("genai_prices/data.py", data_py)
        archive.writestr(
            f"genai_prices-{version}.dist-info/METADATA",
            f"Metadata-Version: 2.4\nName: genai-prices\nVersion: {version}\n",
        )
    return wheel


def test_wheel_json_and_installed_package_give_the_same_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_wheel = read_source(genai_wheel(tmp_path, "0.9.1"), today=TODAY, date=DATE)
    assert (from_wheel.dataset, from_wheel.dataset_version, from_wheel.date) == (
        "genai-prices",
        "0.9.1",
        DATE,
    )
    assert from_wheel.source.startswith("genai-prices 0.9.1 (") and "MIT" in from_wheel.source

    as_json = tmp_path / "data.json"
    as_json.write_text(json.dumps(PROVIDERS))
    assert (
        read_source(as_json, today=TODAY, date=DATE).models
        == convert(PROVIDERS, date=DATE, version="").models
    )

    # An installed package, as pip lays it out: found through its metadata, not imported.
    site = tmp_path / "site"
    (site / "genai_prices").mkdir(parents=True)
    (site / "genai_prices" / "data.py").write_text(DATA_PY)
    (site / "genai_prices" / "__init__.py").write_text("raise ImportError('never imported')\n")
    dist_info = site / "genai_prices-0.9.2.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.4\nName: genai-prices\nVersion: 0.9.2\n"
    )
    monkeypatch.syspath_prepend(str(site))
    installed = read_source(None, today=TODAY, date=DATE)
    assert installed.dataset_version == "0.9.2"
    assert installed.models == from_wheel.models


def test_our_own_table_keeps_its_date_unless_told(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text(
        'date = "2026-10-01"\nsource = "our purchasing team"\n'
        '[models]\n"house-model" = { input = 1.0, output = 2.0 }\n'
    )
    assert read_source(mine, today=TODAY).date == "2026-10-01"
    assert read_source(mine, today=TODAY, date="2026-11-30").date == "2026-11-30"
    as_json = tmp_path / "mine.json"
    as_json.write_text(json.dumps({"date": "2026-10-01", "source": "x", "models": {}}))
    assert read_source(as_json, today=TODAY).source == "x"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("prices.csv", "a,b", "expected a genai-prices wheel"),
        ("broken.whl", "not a zip", "not a genai-prices wheel"),
        ("bad.toml", 'date = "2026-13-45"\nsource = ""\n[models]\n', "date: expected YYYY-MM-DD"),
        ("typo.toml", 'date = "2026-01-01"\nsource = ""\nmodel = {}\n', "model"),
        ("providers.json", '[{"name": "no id"}]', "not genai-prices data"),
    ],
)
def test_unreadable_sources_name_the_file(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(PricesError, match=message) as raised:
        read_source(path, today=TODAY)
    assert name in str(raised.value) or "genai-prices data" in str(raised.value)


def test_compare_and_version_order() -> None:
    old = TableFile(
        date="2026-01-01",
        source="a",
        models={"a": Price(input=1, output=1), "b": Price(input=1, output=1)},
        dataset="genai-prices",
        dataset_version="0.2.10",
    )
    new = TableFile(
        date="2026-02-01",
        source="b",
        models={"b": Price(input=2, output=1), "c": Price(input=1, output=1)},
        dataset="genai-prices",
        dataset_version="0.2.9",
    )
    changes = compare(old, new)
    assert (changes.added, changes.removed) == (["c"], ["a"])
    assert changes.changed == [("b", Price(input=1, output=1), Price(input=2, output=1))]
    assert is_older(new, old)  # 0.2.9 < 0.2.10: numeric, not string, order
    assert not is_older(old, new)
    mine = TableFile(date="2026-03-01", source="mine", models={})
    assert not is_older(mine, old) and not compare(old, old)


def test_rendered_toml_reads_back_equal(tmp_path: Path) -> None:
    table = TableFile(
        date=DATE,
        source='quotes " and \\ backslashes, ünïcode',
        models={
            'we"ird/name': Price(input=0.075, output=1e-05, cached_input=0.0),
            "plain": Price(input=3.0, output=15.0),
        },
        dataset="genai-prices",
        dataset_version="1.0",
    )
    path = tmp_path / "t.toml"
    text = render_toml(table, "first line\nsecond line")
    path.write_text(text)
    assert read_table(path) == table
    assert text.startswith("# first line\n# second line\n")
    assert "Copyright (c) Pydantic Services Inc." in text  # the dataset's licence travels
