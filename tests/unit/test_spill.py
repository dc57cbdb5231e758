"""Load-aware spill from a busy local tier: which load spills, which reason is recorded."""

from __future__ import annotations

import pytest

from appliance.backends.base import BackendHealth
from appliance.router.spill import SPILL_KV_CACHE, SPILL_QUEUE, should_spill


def test_idle_server_keeps_traffic_local() -> None:
    health = BackendHealth(queue_depth=0, running=3, kv_cache_usage=0.2)
    assert should_spill(health, 16, 0.95) is None


def test_long_queue_spills() -> None:
    assert should_spill(BackendHealth(queue_depth=16, kv_cache_usage=0.1), 16, 0.95) == SPILL_QUEUE
    assert should_spill(BackendHealth(queue_depth=15, kv_cache_usage=0.1), 16, 0.95) is None


def test_full_kv_cache_spills() -> None:
    assert should_spill(BackendHealth(queue_depth=0, kv_cache_usage=0.96), 16, 0.95) == (
        SPILL_KV_CACHE
    )
    assert should_spill(BackendHealth(queue_depth=0, kv_cache_usage=0.94), 16, 0.95) is None


def test_queue_reason_wins_when_both_are_over() -> None:
    health = BackendHealth(queue_depth=100, kv_cache_usage=1.0)
    assert should_spill(health, 16, 0.95) == "spill:queue"


def test_unknown_load_never_spills() -> None:
    # A llama.cpp tier, or a vLLM whose /metrics failed: no numbers, no spill.
    assert should_spill(BackendHealth(), 1, 0.01) is None


@pytest.mark.parametrize("state", ["down", "loading"])
def test_unavailable_backend_is_not_a_spill(state: str) -> None:
    # Availability is the circuit breaker's job; spill only reads load from a healthy server.
    health = BackendHealth(state=state, queue_depth=100, kv_cache_usage=1.0)  # type: ignore[arg-type]
    assert should_spill(health, 16, 0.95) is None


def test_zero_limits_turn_checks_off() -> None:
    health = BackendHealth(queue_depth=1000, kv_cache_usage=1.0)
    assert should_spill(health, 0, 0.95) == SPILL_KV_CACHE
    assert should_spill(health, 16, 0.0) == SPILL_QUEUE
    assert should_spill(health, 0, 0.0) is None
