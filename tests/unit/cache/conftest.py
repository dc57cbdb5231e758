"""Shared fixtures for the cache tests: one real encoder and one real verifier per session
(each loads in about a second), and a cache that verifies its candidates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from appliance.cache.semantic import SemanticCache
from appliance.cache.verifier import CANDIDATE_THRESHOLD, VERIFIER_THRESHOLD, Verifier
from appliance.config import CacheConfig
from appliance.embedding.encoder import Encoder


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    return Encoder(threads=2)


@pytest.fixture(scope="session")
def embed(encoder: Encoder) -> Callable[[str], np.ndarray]:
    memo: dict[str, np.ndarray] = {}

    def one(text: str) -> np.ndarray:
        if text not in memo:
            memo[text] = encoder.encode([text])[0]
        return memo[text]

    return one


@pytest.fixture(scope="session")
def verifier() -> Verifier:
    """The shipped verifier (models/cache/verifier/), loaded once."""
    return Verifier()


class TunedConfig(CacheConfig, kw_only=True):
    """CacheConfig plus the verifier keys config.py is to gain (same names and defaults)."""

    candidate_threshold: float = CANDIDATE_THRESHOLD
    verifier_threshold: float = VERIFIER_THRESHOLD


@pytest.fixture
def verified(tmp_path: Path, verifier: Verifier) -> Iterator[SemanticCache]:
    """A cache with the shipped verifier at its default operating point."""
    cache = SemanticCache(tmp_path, TunedConfig(index_save_interval_s=3600), verifier=verifier)
    yield cache
    cache.close()
