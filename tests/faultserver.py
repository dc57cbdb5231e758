"""A deliberately broken OpenAI-compatible upstream, run as a real process on loopback.

FAKE, by design: it exists to produce faults a real model server cannot be made to produce
on demand (hangs, 429 with Retry-After, 500s, streams cut mid-way, garbage bytes). Its
behaviour is chosen by the model name the gateway sends (the tier's `model`):

    ok            a valid completion / stream ("fault server says hi")
    GET /health   200; GET /metrics: vLLM's metrics for a badly overloaded server (a queue of 42)
    hang          accepts, then never answers
    slow-first    first stream chunk after 3 s, then fine
    slow-stream   streams ten extra pieces over about 2 s (load tests)
    status-429    429 with Retry-After: 30
    status-500    500 with an OpenAI error body
    break-stream  two chunks, then the connection is cut
    garbage       200 with bytes that are not JSON

Run: python -m tests.faultserver PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

Scope = dict[str, Any]


def _completion(model: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-fault",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "fault server says hi"},
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
        }
    ).encode()


def _text_completion(model: str) -> bytes:
    return json.dumps(
        {
            "id": "cmpl-fault",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "text": "fault server says hi"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
        }
    ).encode()


def _chunk(
    model: str,
    content: str | None,
    finish: str | None = None,
    usage: dict[str, int] | None = None,
    legacy: bool = False,
) -> bytes:
    """One SSE event: a chat chunk, or a legacy text-completion chunk when `legacy`."""
    if usage:
        choices: list[dict[str, object]] = []
    elif legacy:
        choices = [{"index": 0, "text": content or "", "finish_reason": finish}]
    else:
        delta = {"content": content} if content else {}
        choices = [{"index": 0, "delta": delta, "finish_reason": finish}]
    body = {
        "id": "cmpl-fault" if legacy else "chatcmpl-fault",
        "object": "text_completion" if legacy else "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage,
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


_VLLM_METRICS = b"""# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="local-gpu"} 42.0
# HELP vllm:num_requests_running Number of requests currently running on GPU.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="local-gpu"} 64.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="local-gpu"} 0.5
"""


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] in ("/health", "/metrics"):
        text = _VLLM_METRICS if scope["path"] == "/metrics" else b""
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": text})
        return
    request = json.loads(body or b"{}")
    model = str(request.get("model", "ok"))
    stream = bool(request.get("stream"))

    async def respond(
        status: int,
        payload: bytes,
        headers: list[tuple[bytes, bytes]] | None = None,
        content_type: bytes = b"application/json",
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type), *(headers or [])],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    if model == "hang":
        await asyncio.sleep(3600)
    if model == "status-429":
        return await respond(
            429,
            b'{"error": {"message": "slow down", "type": "rate_limit"}}',
            [(b"retry-after", b"30")],
        )
    if model == "status-500":
        return await respond(500, b'{"error": {"message": "boom", "type": "server_error"}}')
    if model == "garbage":
        return await respond(200, b"\x00\xffthis is not json{{{")
    legacy = scope["path"].endswith("/completions") and "/chat/" not in scope["path"]
    if not stream:
        return await respond(200, _text_completion(model) if legacy else _completion(model))
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream")],
        }
    )
    if model == "slow-first":
        await asyncio.sleep(3)
    if model == "slow-stream":  # a realistic upstream: ten pieces over about two seconds
        for piece in range(10):
            await asyncio.sleep(0.2)
            chunk = _chunk(model, f"piece{piece} ", legacy=legacy)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send(
        {
            "type": "http.response.body",
            "body": _chunk(model, "fault ", legacy=legacy),
            "more_body": True,
        }
    )
    await send(
        {
            "type": "http.response.body",
            "body": _chunk(model, "server ", legacy=legacy),
            "more_body": True,
        }
    )
    if model == "break-stream":
        raise RuntimeError("cut the connection mid-stream")  # uvicorn drops the socket
    await send(
        {
            "type": "http.response.body",
            "body": _chunk(model, "says hi", "stop", legacy=legacy),
            "more_body": True,
        }
    )
    usage = {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    await send(
        {
            "type": "http.response.body",
            "body": _chunk(model, None, usage=usage, legacy=legacy),
            "more_body": True,
        }
    )
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
