"""A tier with several vLLM replicas (`base_urls`): the least loaded by its /metrics answers,
a failing replica is left for the next before the cascade sees an error, and a client error
is returned at once. The replicas are small real HTTP servers on loopback that speak vLLM's
/health, /metrics and OpenAI chat (their load and faults set by the test)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec
import pytest

from appliance.backends.base import BackendHealth
from appliance.backends.registry import build_backend
from appliance.backends.replicas import ReplicaSet
from appliance.config import CircuitConfig, TierConfig
from appliance.errors import BackendError, InvalidRequest
from appliance.schemas import ChatCompletionRequest
from tests.serving import free_port


class Replica:
    """One stand-in vLLM server; `waiting`, `kv` and `status` may change while it runs."""

    def __init__(self, name: str) -> None:
        self.name, self.waiting, self.kv, self.status, self.calls = name, 0, 0.0, 200, 0
        replica = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/metrics":
                    text = (
                        f'vllm:num_requests_waiting{{model_name="m"}} {replica.waiting}\n'
                        f'vllm:num_requests_running{{model_name="m"}} 1\n'
                        f'vllm:kv_cache_usage_perc{{model_name="m"}} {replica.kv}\n'
                    )
                    self._send(200, text.encode(), "text/plain")
                else:
                    self._send(200, b"")

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                replica.calls += 1
                if replica.status != 200:
                    error = {"error": {"message": "no", "type": "x"}}
                    return self._send(replica.status, json.dumps(error).encode())
                if body.get("stream"):
                    return self._send(200, _sse(replica.name), "text/event-stream")
                return self._send(200, json.dumps(_completion(replica.name)).encode())

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _completion(name: str) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": name}}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _sse(name: str) -> bytes:
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": name}, "finish_reason": "stop"}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\ndata: [DONE]\n\n"


@pytest.fixture
def replicas() -> Iterator[list[Replica]]:
    made = [Replica("r0"), Replica("r1")]
    yield made
    for replica in made:
        replica.close()


def tier(*urls: str) -> TierConfig:
    return TierConfig(name="gpu", backend="vllm", model="m", base_urls=list(urls), timeout_s=5)


REQ = msgspec.convert(
    {"model": "m", "messages": [{"role": "user", "content": "hi"}]}, ChatCompletionRequest
)


async def answer(backend: ReplicaSet) -> str:
    return (await backend.chat(REQ)).choices[0].message.content or ""


async def test_the_least_loaded_replica_answers(replicas: list[Replica]) -> None:
    replicas[0].waiting, replicas[1].waiting = 12, 0
    backend = build_backend(tier(*(r.url for r in replicas)))
    assert isinstance(backend, ReplicaSet)
    await backend.start()
    try:
        assert [await answer(backend) for _ in range(4)] == ["r1"] * 4
        health = await backend.health()
        assert health.queue_depth == 0 and health.detail == "2/2 replicas up"
        replicas[1].waiting = 30  # now r1 is the busy one
        deadline = time.monotonic() + 5
        while (backend.replicas[1].health or BackendHealth()).queue_depth != 30:
            assert time.monotonic() < deadline, "the new load was never read"
            await answer(backend)  # each call may start a refresh; none waits for one
            await asyncio.sleep(0.05)
        assert [await answer(backend) for _ in range(3)] == ["r0"] * 3
    finally:
        await backend.close()


async def test_equal_loads_take_turns(replicas: list[Replica]) -> None:
    backend = build_backend(tier(*(r.url for r in replicas)))
    assert isinstance(backend, ReplicaSet)
    await backend.start()
    try:
        assert sorted([await answer(backend) for _ in range(4)]) == ["r0", "r0", "r1", "r1"]
    finally:
        await backend.close()


async def test_a_dead_or_failing_replica_is_left_for_the_next(replicas: list[Replica]) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    replicas[0].status = 500
    backend = build_backend(tier(dead, replicas[0].url, replicas[1].url))
    assert isinstance(backend, ReplicaSet)
    await backend.start()
    try:
        for replica in backend.replicas:
            replica.health = None  # forget the probe: the calls alone must route round them
        assert [await answer(backend) for _ in range(6)] == ["r1"] * 6
        chunks = [c async for c in backend.stream(REQ)]
        assert chunks[0].choices[0].delta.content == "r1"
        # After `failures_to_open` failures a replica's circuit opens: it is not even tried.
        calls = replicas[0].calls
        await answer(backend)
        assert replicas[0].calls == calls
    finally:
        await backend.close()


async def test_every_replica_failing_is_one_error_for_the_cascade(
    replicas: list[Replica],
) -> None:
    for replica in replicas:
        replica.status = 503
    backend = ReplicaSet(
        tier(),
        [(r.url, build_backend(tier(r.url))) for r in replicas],
        CircuitConfig(failures_to_open=1),
    )
    await backend.start()
    try:
        with pytest.raises(BackendError):
            await answer(backend)
        assert [r.calls for r in replicas] == [1, 1]
        with pytest.raises(BackendError, match="cooling down"):
            await answer(backend)
    finally:
        await backend.close()


async def test_a_client_error_is_returned_not_failed_over(replicas: list[Replica]) -> None:
    replicas[0].status = replicas[1].status = 400
    backend = build_backend(tier(*(r.url for r in replicas)))
    await backend.start()
    try:
        with pytest.raises(InvalidRequest):
            await backend.chat(REQ)
        assert replicas[0].calls + replicas[1].calls == 1
    finally:
        await backend.close()


async def test_one_url_in_base_urls_is_a_plain_backend(replicas: list[Replica]) -> None:
    backend = build_backend(tier(replicas[0].url))
    assert not isinstance(backend, ReplicaSet)
    await backend.close()
