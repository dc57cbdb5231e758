"""Fleet unit tests: a real redis-server per module, and boxes made of the real parts
(`Fleet`, `ReplicatedCache`, `FleetBudgets`) in temp dirs, several per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from appliance.cache.reembed import VectorSource
from appliance.config import CacheConfig, FleetConfig
from appliance.fleet.fleet import Fleet
from appliance.fleet.replica import ReplicatedCache
from appliance.ledger.db import Ledger
from tests.redis_server import RedisServer

DIM = 384
QUIET = CacheConfig(index_save_interval_s=3600)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


class Box:
    """One box's fleet parts. Closing it and making a box of the same name again is a
    restart on the same state dir."""

    def __init__(
        self, name: str, state: Path, config: FleetConfig, vectors: VectorSource | None = None
    ) -> None:
        self.name, self.state, self.config = name, state, config
        self.ledger = Ledger(state / "ledger.sqlite")
        self.fleet = Fleet(config, name, state)
        self.budgets = self.fleet.open_budgets(self.ledger)
        self.cache: ReplicatedCache = self.fleet.open_cache(
            state / "cache", QUIET, DIM, vectors=vectors
        )
        self.fleet.start()
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.fleet.close()
            self.cache.close()
            self.ledger.close()
            self.closed = True


BoxFactory = Callable[..., Box]


@pytest.fixture
def make_box(redis_server: RedisServer, tmp_path: Path) -> Iterator[BoxFactory]:
    """Boxes on an empty Redis, closed when the test ends."""
    client = redis_server.client()
    client.flushall()
    client.close()
    boxes: list[Box] = []

    def make(name: str, vectors: VectorSource | None = None, **settings: Any) -> Box:
        fields = {"redis_url": redis_server.url, "publish_interval_s": 0.2, **settings}
        box = Box(name, tmp_path / name, msgspec.convert(fields, FleetConfig), vectors)
        boxes.append(box)
        return box

    yield make
    for box in boxes:
        box.close()
