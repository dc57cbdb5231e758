"""Shared fixtures: a temp state dir per server, config factory, real servers on loopback."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving import OPEN_CLIENTS, Server, free_port, start_loopback, write_config

ServerFactory = Callable[..., Server]


def _factory(tmp: pytest.TempPathFactory, servers: list[Server]) -> ServerFactory:
    def start(
        settings: dict[str, Any] | None = None,
        *,
        env: dict[str, str] | None = None,
        wait_ready: bool = True,
        fd_limit: int | None = None,
    ) -> Server:
        directory = tmp.mktemp("appliance")
        config = {"state_dir": str(directory / "state"), **(settings or {})}
        path = write_config(directory / "appliance.toml", config)
        state = Path(str(config["state_dir"]))
        server = Server(path, free_port(), env or {}, state_dir=state, fd_limit=fd_limit)
        servers.append(server)
        return server.start(wait_ready=wait_ready)

    return start


@pytest.fixture(scope="session", autouse=True)
def _private_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """What the code under test keeps in the user's cache dir (replay's vector memo) goes to
    a temp dir, never the home of whoever runs the suite."""
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    yield
    patch.undo()


@pytest.fixture(scope="module")
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """Start real appliances for one test module; they are stopped when the module ends, so
    a long suite never holds more than a few model-loaded daemons in memory at once."""
    servers: list[Server] = []
    yield _factory(tmp_path_factory, servers)
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The appliance on its embedded defaults (one local llama.cpp tier), shared by the run."""
    servers: list[Server] = []
    yield _factory(tmp_path_factory, servers)()
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def fault_upstream() -> Iterator[str]:
    """The deliberately broken upstream (tests/faultserver.py) on a free port; its base URL."""
    process, base_url = start_loopback("tests.faultserver")
    yield base_url
    process.kill()
    process.wait()


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    """Collect after each test, so an unclosed socket or file (a ResourceWarning, an error in
    this suite) fails the test that leaked it rather than whichever test the GC lands in."""
    yield
    while OPEN_CLIENTS:
        OPEN_CLIENTS.pop().close()
    gc.collect()
