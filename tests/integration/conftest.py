"""Integration fixtures: the recording upstream, and the compatibility-matrix recorder.

A test marked `@pytest.mark.compat(client, feature, tier)` is one cell of the matrix in
docs/compatibility.md. Its outcome is kept in pytest's cache (`appliance/compat`); after a
run, `python -m tests.compat_matrix` renders the table from it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.serving import NO_STORE, Server, start_loopback

CACHE_KEY = "appliance/compat"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "compat(client, feature, tier): one cell of docs/compatibility.md"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield  # type: ignore[misc]
    marker = item.get_closest_marker("compat")
    if marker is not None and (report.when == "call" or report.skipped):
        _record(item, marker, report)
    return report  # type: ignore[return-value]


def _record(item: pytest.Item, marker: pytest.Mark, report: pytest.TestReport) -> None:
    cache = getattr(item.config, "cache", None)
    if cache is None:  # run with -p no:cacheprovider
        return
    client, feature, tier = marker.args
    callspec = getattr(item, "callspec", None)
    if callspec is not None:  # a parametrized test names its cell with its parameters
        feature = feature.format(**callspec.params)
    results: dict[str, Any] = cache.get(CACHE_KEY, {})
    results[f"{client}|{feature}|{tier}"] = {
        "outcome": report.outcome,
        "test": item.nodeid,
        "when": time.strftime("%Y-%m-%d"),
    }
    cache.set(CACHE_KEY, results)


@pytest.fixture(scope="module")
def recorder() -> Iterator[str]:
    """tests/recorder.py on a free port; its base URL (…/v1)."""
    process, base_url = start_loopback("tests.recorder", "/recorded")
    yield base_url
    process.kill()
    process.wait()


@pytest.fixture(scope="module")
def no_store_client(local_server: Server) -> Iterator[openai.OpenAI]:
    """The stock `openai` client on the local daemon, every request `no-store`: each one
    reaches the model (no cache hit from an earlier test) and leaves nothing cached."""
    with openai.OpenAI(
        base_url=local_server.base_url, api_key="x", max_retries=0, default_headers=NO_STORE
    ) as sdk:
        yield sdk
