"""vLLM load from /metrics: the parser, and the backend's /health + /metrics probe on loopback."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client.parser import text_string_to_metric_families

from appliance.backends.registry import build_backend
from appliance.backends.vllm import VLLMBackend, VLLMLoad, parse_metrics, server_root
from appliance.config import TierConfig

MODEL = "mistralai/Mistral-7B-Instruct-v0.3"

# The V1 engine's exposition format, as vLLM documents it (docs/usage/metrics): gauges per
# engine and model_name, counters, histograms, plus the Python process collectors.
V1_METRICS = f"""\
# HELP python_gc_objects_collected_total Objects collected during gc
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{{generation="0"}} 12345.0
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{engine="0",model_name="{MODEL}"}} 12.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{{engine="0",model_name="{MODEL}"}} 7.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{{engine="0",model_name="{MODEL}"}} 0.8125
# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{{engine="0",model_name="{MODEL}"}} 51200.0
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{{engine="0",model_name="{MODEL}"}} 102400.0
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{{engine="0",le="0.001",model_name="{MODEL}"}} 0.0
vllm:time_to_first_token_seconds_bucket{{engine="0",le="0.5",model_name="{MODEL}"}} 40.0
vllm:time_to_first_token_seconds_bucket{{engine="0",le="+Inf",model_name="{MODEL}"}} 42.0
vllm:time_to_first_token_seconds_count{{engine="0",model_name="{MODEL}"}} 42.0
vllm:time_to_first_token_seconds_sum{{engine="0",model_name="{MODEL}"}} 3.5
"""

# The V0 engine (vLLM <= 0.7): gpu_cache_usage_perc, no engine label, a swapped gauge.
V0_METRICS = f"""\
# HELP vllm:num_requests_running Number of requests currently running on GPU.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{model_name="{MODEL}"}} 3.0
# HELP vllm:num_requests_swapped Number of requests swapped to CPU.
# TYPE vllm:num_requests_swapped gauge
vllm:num_requests_swapped{{model_name="{MODEL}"}} 0.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{{model_name="{MODEL}"}} 0.0
# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{{model_name="{MODEL}"}} 0.25
"""


def test_samples_are_valid_prometheus_text() -> None:
    # Guards the fixtures themselves: the reference parser must accept them.
    for text in (V1_METRICS, V0_METRICS):
        assert list(text_string_to_metric_families(text))


def test_parses_v1_engine_load() -> None:
    assert parse_metrics(V1_METRICS) == VLLMLoad(waiting=7, running=12, kv_cache_usage=0.8125)


def test_parses_v0_gpu_cache_usage_name() -> None:
    assert parse_metrics(V0_METRICS) == VLLMLoad(waiting=0, running=3, kv_cache_usage=0.25)


def test_counts_sum_across_label_sets_and_fullest_cache_wins() -> None:
    text = """\
vllm:num_requests_waiting{engine="0",model_name="a"} 4
vllm:num_requests_waiting{engine="1",model_name="a"} 5
vllm:num_requests_running{engine="0",model_name="a"} 1
vllm:num_requests_running{engine="1",model_name="a"} 2
vllm:kv_cache_usage_perc{engine="0",model_name="a"} 0.3
vllm:kv_cache_usage_perc{engine="1",model_name="a"} 0.9
"""
    assert parse_metrics(text) == VLLMLoad(waiting=9, running=3, kv_cache_usage=0.9)


def test_missing_metrics_are_none_not_zero() -> None:
    # Zero would read as "idle" and keep traffic local on a server we know nothing about.
    assert parse_metrics("") == VLLMLoad()
    renamed = 'vllm:num_requests_waiting_by_reason{reason="capacity"} 30\n'
    assert parse_metrics(renamed) == VLLMLoad()


def test_tolerates_garbage_lines_and_nan() -> None:
    text = (
        "this is not prometheus\n"
        'vllm:num_requests_waiting{model_name="x"} NaN\n'
        'vllm:num_requests_running{model_name="x"} 2 1712345678000\n'
        'vllm:kv_cache_usage_perc{model_name="has } brace and spaces"} 0.5\n'
        "vllm:num_requests_waiting{broken 3\n"
    )
    assert parse_metrics(text) == VLLMLoad(waiting=None, running=2, kv_cache_usage=0.5)


def test_newest_kv_metric_name_wins_and_percent_is_normalised() -> None:
    both = "vllm:kv_cache_usage_perc 0.7\nvllm:gpu_cache_usage_perc 0.1\n"
    assert parse_metrics(both).kv_cache_usage == 0.7
    assert parse_metrics("vllm:gpu_cache_usage_perc 87.5\n").kv_cache_usage == 0.875


def test_server_root_strips_v1() -> None:
    assert server_root("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000"
    assert server_root("http://gpu-box:8000/v1/") == "http://gpu-box:8000"
    assert server_root("http://gpu-box:8000") == "http://gpu-box:8000"


# --- the backend against a real HTTP server on loopback --------------------------------------


class _FakeVLLM(ThreadingHTTPServer):
    health_status = 200
    metrics = V1_METRICS
    hits = 0


class _Handler(BaseHTTPRequestHandler):
    server: _FakeVLLM

    def do_GET(self) -> None:
        self.server.hits += 1
        if self.path == "/health":
            self._reply(self.server.health_status, "")
        elif self.path == "/metrics":
            self._reply(200, self.server.metrics)
        else:
            self._reply(404, "not found")

    def _reply(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def fake_vllm() -> Iterator[_FakeVLLM]:
    server = _FakeVLLM(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _tier(base_url: str) -> TierConfig:
    return TierConfig(name="local", backend="vllm", model="local-gpu", base_url=base_url)


async def test_health_reports_load_and_is_cached(fake_vllm: _FakeVLLM) -> None:
    url = f"http://127.0.0.1:{fake_vllm.server_address[1]}/v1"
    backend = VLLMBackend(_tier(url), cache_s=60.0)
    try:
        results = await asyncio.gather(*(backend.health() for _ in range(20)))
        assert all(r == results[0] for r in results)
        health = results[0]
        assert (health.state, health.queue_depth, health.running) == ("up", 7, 12)
        assert health.kv_cache_usage == 0.8125
        assert fake_vllm.hits == 2  # one /health + one /metrics for 20 concurrent callers
    finally:
        await backend.close()


async def test_health_refreshes_after_cache_expires(fake_vllm: _FakeVLLM) -> None:
    url = f"http://127.0.0.1:{fake_vllm.server_address[1]}/v1"
    backend = VLLMBackend(_tier(url), cache_s=0.0)
    try:
        assert (await backend.health()).queue_depth == 7
        fake_vllm.metrics = V0_METRICS
        assert (await backend.health()).kv_cache_usage == 0.25
    finally:
        await backend.close()


async def test_unhealthy_server_is_down(fake_vllm: _FakeVLLM) -> None:
    fake_vllm.health_status = 503
    url = f"http://127.0.0.1:{fake_vllm.server_address[1]}/v1"
    backend = VLLMBackend(_tier(url))
    try:
        health = await backend.health()
        assert health.state == "down" and "503" in health.detail
        assert health.queue_depth is None
    finally:
        await backend.close()


async def test_unreachable_server_is_down() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    port = server.server_address[1]
    server.server_close()  # nothing listens there now
    backend = VLLMBackend(_tier(f"http://127.0.0.1:{port}/v1"))
    try:
        health = await backend.health()
        assert health.state == "down" and "cannot reach vLLM" in health.detail
    finally:
        await backend.close()


async def test_registry_builds_vllm_backend_for_vllm_tiers() -> None:
    backend = build_backend(_tier("http://127.0.0.1:8000/v1"))
    try:
        assert isinstance(backend, VLLMBackend)
    finally:
        await backend.close()
