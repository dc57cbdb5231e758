"""Shared fixtures: a temp state dir per server, config factory, real servers on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving import Server, free_port, write_config

ServerFactory = Callable[..., Server]


@pytest.fixture(scope="session")
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """Start real appliances; each gets its own state dir. All are stopped at session end."""
    servers: list[Server] = []

    def start(settings: dict[str, Any] | None = None, *, env: dict[str, str] | None = None,
              wait_ready: bool = True) -> Server:
        directory = tmp_path_factory.mktemp("appliance")
        config = {"state_dir": str(directory / "state"), **(settings or {})}
        path = write_config(directory / "appliance.toml", config)
        state = Path(str(config["state_dir"]))
        server = Server(path, free_port(), env or {}, state_dir=state)
        servers.append(server)
        return server.start(wait_ready=wait_ready)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def local_server(server_factory: ServerFactory) -> Server:
    """The appliance on its embedded defaults: one local llama.cpp tier."""
    return server_factory()
