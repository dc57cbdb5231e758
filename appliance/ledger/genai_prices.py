"""The open genai-prices dataset (pydantic/genai-prices, MIT licence) as our price table.

genai-prices is read, never imported or run: its package keeps the data as one Python literal
(`genai_prices/data.py`), parsed here with `ast` and evaluated only for literals and the
dataset's own constructor calls. So the appliance needs neither the package's dependencies
(pydantic, an HTTP client) nor trust in code from it, and works from an installed package, a
downloaded wheel, or the dataset's JSON (`prices/data.json` in its repository), which has the
same shape.

The conversion keeps what our table models: USD per 1M input, output and cache-read tokens,
the base rate of tiered (long-context) prices, the price in force on the table's date where
prices changed over time. Batch, time-of-day and per-request prices are dropped. A name that
several providers price takes the price of the provider whose naming rule claims it, as the
dataset's own lookup would (first-party APIs rank first), since a tier calls a provider by
the model name that provider's API spells. It must not write files or touch the network.
"""

from __future__ import annotations

import ast
import datetime as dt
import importlib.metadata
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from appliance.config import Price
from appliance.ledger.prices import SEPARATORS, PricesError, TableFile, parse_date

DATASET = "genai-prices"
DATASET_URL = "https://github.com/pydantic/genai-prices"
_DATA_PY = "genai_prices/data.py"
# The dataset's MIT notice, which must travel with every copy of its data (render_toml).
DATASET_NOTICE = """\
Data from genai-prices, under the MIT License (MIT):
Copyright (c) Pydantic Services Inc. 2025 to present
Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:
The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE."""
# First-party APIs, then hosts serving open models; every other provider follows in the
# dataset's own order. Earlier wins a shared name.
_PREFERRED = (
    "openai",
    "anthropic",
    "google",
    "mistral",
    "deepseek",
    "x-ai",
    "cohere",
    "moonshotai",
    "zai",
    "minimax",
    "perplexity",
    "groq",
    "together",
    "fireworks",
    "cerebras",
)
# Shorter aliases would swallow unrelated names through prefix matching.
_MIN_ALIAS = 3


def from_installed(date: str) -> TableFile:
    """The genai-prices package installed in this Python, converted."""
    version, text = _installed()
    return convert(_eval_data_py(text, _DATA_PY), date=date, version=version)


def from_wheel(path: Path, date: str) -> TableFile:
    """A genai-prices wheel (`pip download genai-prices --no-deps`), converted."""
    version, text = _from_wheel(path)
    return convert(_eval_data_py(text, str(path)), date=date, version=version)


def from_data_py(path: Path, date: str) -> TableFile:
    """genai-prices' `data.py` on its own (no version known), converted."""
    return convert(_eval_data_py(read_text(path), str(path)), date=date, version="")


def _installed() -> tuple[str, str]:
    try:
        dist = importlib.metadata.distribution(DATASET)
    except importlib.metadata.PackageNotFoundError:
        raise PricesError(
            f"prices: the {DATASET} package is not installed here; give a file instead, e.g. "
            f"`pip download {DATASET} --no-deps -d /tmp` then "
            f"`appliance prices update /tmp/genai_prices-*.whl`"
        ) from None
    return dist.version, read_text(Path(str(dist.locate_file(_DATA_PY))))


def _from_wheel(path: Path) -> tuple[str, str]:
    try:
        with zipfile.ZipFile(path) as wheel:
            text = wheel.read(_DATA_PY).decode("utf-8")
            metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
            version = next(
                line.split(":", 1)[1].strip()
                for line in wheel.read(metadata).decode("utf-8").splitlines()
                if line.startswith("Version:")
            )
    except (OSError, KeyError, StopIteration, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise PricesError(f"prices: {path}: not a genai-prices wheel ({exc!r})") from None
    return version, text


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PricesError(f"prices: {path}: {exc}") from None


# -- genai-prices' data.py: a literal, evaluated without running it --------------------------


def _eval_data_py(text: str, where: str) -> list[Any]:
    try:
        tree = ast.parse(text, filename=where)
    except SyntaxError as exc:
        raise PricesError(f"prices: {where}: {exc}") from None
    for node in tree.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        if isinstance(target, ast.Name) and target.id == "providers" and value is not None:
            providers = _literal(value, where)
            if isinstance(providers, list):
                return providers
    raise PricesError(f"prices: {where}: no `providers = [...]` list found")


def _literal(node: ast.expr, where: str) -> Any:
    """Constants, lists, dicts, `Decimal("…")`, `datetime.date(…)`, `datetime.time(…)`, and
    a call of a plain class name with keyword arguments only, as a dict of them (the
    dataset's classes have the fields of its JSON; `or_`/`and_` are spelt `or`/`and` there).
    Anything else, e.g. a call on an attribute, is refused: nothing here ever runs."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(item, where) for item in node.elts]
    if isinstance(node, ast.Dict) and all(key is not None for key in node.keys):
        return {
            _literal(k, where): _literal(v, where)
            for k, v in zip(node.keys, node.values, strict=True)
            if k is not None
        }
    if isinstance(node, ast.Call):
        name = ast.unparse(node.func)
        args = [_literal(arg, where) for arg in node.args]
        if name == "Decimal" and len(args) == 1 and not node.keywords:
            return float(args[0])
        # Time-of-day prices are dropped, so their time zone (`tzinfo=`) is not needed.
        timeless = all(kw.arg == "tzinfo" for kw in node.keywords)
        if name in ("datetime.date", "date") and not node.keywords:
            return dt.date(*args).isoformat()
        if name in ("datetime.time", "time") and timeless:
            return dt.time(*args).isoformat()
        is_class = isinstance(node.func, ast.Name) and name[:1].isupper()
        if is_class and not args and all(kw.arg is not None for kw in node.keywords):
            return {str(kw.arg).rstrip("_"): _literal(kw.value, where) for kw in node.keywords}
    raise PricesError(
        f"prices: {where}: line {getattr(node, 'lineno', '?')}: unexpected {ast.unparse(node)[:60]}"
    )


# -- conversion ------------------------------------------------------------------------------


def convert(providers: list[Any], *, date: str, version: str) -> TableFile:
    """Our table from the dataset's providers, with prices as of `date`."""
    as_of = parse_date(date)
    try:
        ranked = _ordered(providers)
        candidates = list(_candidates(ranked, as_of))
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise PricesError(f"prices: not genai-prices data: {exc!r}") from None
    models: dict[str, Price] = {}
    aliases: set[str] = set()
    seen: set[str] = set()  # lower-cased, as lookups compare
    for rank, key, price, is_id in candidates:
        if key.lower() in seen:
            continue
        seen.add(key.lower())
        claimed = _claimed(ranked[:rank], key, as_of)
        models[key] = claimed or price
        if claimed or not is_id:
            aliases.add(key)
    models = _without_redundant(models, aliases)
    if not models:
        raise PricesError("prices: the genai-prices data priced no model")
    label = f"{DATASET} {version}".strip()
    source = (
        f"{label} ({DATASET_URL}, MIT licence), converted on {date}: {len(models):,} names "
        f"from {len(ranked)} providers; base rates per 1M tokens in force on that date "
        "(long-context tiers, batch and time-of-day prices left out); a name several "
        "providers price takes the price of the provider whose naming rule claims it."
    )
    return TableFile(
        date=date,
        source=source,
        models=dict(sorted(models.items(), key=lambda item: item[0].lower())),
        dataset=DATASET,
        dataset_version=version,
    )


def _candidates(
    ranked: list[dict[str, Any]], as_of: dt.date
) -> Iterator[tuple[int, str, Price, bool]]:
    """(provider rank, name, price, is a model id): every model's own id first, then the
    exact names its match rule lists, then the prefixes it lists (which our lookup applies
    at a separator)."""
    priced = [
        (rank, model, price)
        for rank, provider in enumerate(ranked)
        for model in provider.get("models") or []
        for price in [_price(model.get("prices"), as_of)]
        if price is not None
    ]
    for rank, model, price in priced:
        if str(model["id"]).strip():
            yield rank, str(model["id"]).strip(), price, True
    for wanted in ("equals", "starts_with"):
        for rank, model, price in priced:
            for kind, value in _clauses(model.get("match")):
                key = value.strip().rstrip("".join(SEPARATORS))
                if kind == wanted and len(key) >= _MIN_ALIAS:
                    yield rank, key, price, False


def _claimed(higher: list[dict[str, Any]], name: str, as_of: dt.date) -> Price | None:
    """The price a higher-ranked provider gives `name` when its naming rule claims it, as the
    dataset itself decides: AWS lists "claude-sonnet-4-5-20250929" at its regional rate, but
    the name is Anthropic's ("contains claude") and Anthropic's rule prices it."""
    for provider in higher:
        rule = provider.get("model_match")
        if rule is None or not _matches(rule, name):
            continue
        for model in provider.get("models") or []:
            if _matches(model.get("match"), name):
                price = _price(model.get("prices"), as_of)
                if price is not None:
                    return price
    return None


def _matches(rule: Any, name: str) -> bool:
    """genai-prices' match rules, on lower-cased names as its own lookup does."""
    if not isinstance(rule, dict):
        return False
    lower = name.lower()
    tests: dict[str, Callable[[str], bool]] = {
        "equals": lambda v: lower == v.lower(),
        "starts_with": lambda v: lower.startswith(v.lower()),
        "ends_with": lambda v: lower.endswith(v.lower()),
        "contains": lambda v: v.lower() in lower,
        "regex": lambda v: re.search(v, lower) is not None,
    }
    for kind, test in tests.items():
        if isinstance(rule.get(kind), str):
            return test(rule[kind])
    if "or" in rule:
        return any(_matches(clause, name) for clause in rule["or"])
    if "and" in rule:
        return all(_matches(clause, name) for clause in rule["and"])
    return False


def _without_redundant(models: dict[str, Price], aliases: set[str]) -> dict[str, Price]:
    """Drop aliases that the prefix rule already prices the same ("gpt-4o-2024-08-06" is
    "gpt-4o"): lookups do not change, and an override of "gpt-4o" then reaches them too.
    A model's own id stays even so: "claude-sonnet-4-5" is not "claude-sonnet-4", whatever
    they cost today, and an operator looks it up by that name."""
    kept: dict[str, Price] = {}
    for key in sorted(models, key=len):
        lower = key.lower()
        prefix = next(
            (
                lower[:i]
                for i in range(len(lower) - 1, 0, -1)
                if lower[i] in SEPARATORS and lower[:i] in kept
            ),
            None,
        )
        if key not in aliases or prefix is None or kept[prefix] != models[key]:
            kept[lower] = models[key]
    return {key: price for key, price in models.items() if key.lower() in kept}


def _ordered(providers: list[Any]) -> list[dict[str, Any]]:
    rank = {name: i for i, name in enumerate(_PREFERRED)}
    return sorted(providers, key=lambda p: rank.get(p["id"], len(rank)))  # stable


def _price(prices: Any, as_of: dt.date) -> Price | None:
    """The dataset's prices for one model -> ours; None if it has no input and output rate."""
    if isinstance(prices, list):  # conditional prices: the last one in force on `as_of`
        chosen = None
        for conditional in prices:
            constraint = conditional.get("constraint") or {}
            start = constraint.get("start_date")
            if "start_time" in constraint or (start and dt.date.fromisoformat(start) > as_of):
                continue
            chosen = conditional.get("prices")
        prices = chosen
    if not isinstance(prices, dict):
        return None
    rates = {key: _base(prices.get(key)) for key in ("input_mtok", "output_mtok")}
    if rates["input_mtok"] is None or rates["output_mtok"] is None:
        return None  # embeddings, images, audio: not what a chat tier bills
    return Price(
        input=rates["input_mtok"],
        output=rates["output_mtok"],
        cached_input=_base(prices.get("cache_read_mtok")),
    )


def _base(value: Any) -> float | None:
    if isinstance(value, dict):  # tiered by prompt length: the rate below the first tier
        value = value.get("base")
    return None if value is None else float(value)


def _clauses(match: Any) -> Iterator[tuple[str, str]]:
    """("equals" | "starts_with", name) from a match rule, through `or` only: a clause under
    `and` does not match alone, and `contains`/`regex` have no name to list."""
    if not isinstance(match, dict):
        return
    for kind in ("equals", "starts_with"):
        if isinstance(match.get(kind), str):
            yield kind, match[kind]
    for clause in match.get("or") or []:
        yield from _clauses(clause)
