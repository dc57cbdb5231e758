"""Shared fixtures for the cache tests: one real encoder per session (loading it costs ~1 s)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

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
