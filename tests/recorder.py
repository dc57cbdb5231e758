"""An OpenAI-compatible upstream that records what it receives, run as a real process.

FAKE, by design (like tests/faultserver.py): it shows exactly which body a tier sent, which a
real model server cannot. Every POST body is kept; `GET /recorded` returns them all (JSON
list, oldest first) and `DELETE /recorded` forgets them. Answers, by the model name sent:

    anything     a completion saying "recorded" (streamed when asked, with usage)
    slow-stream  a stream of one chunk every 50 ms for 30 s; when the client goes away the
                 upstream notes it (`GET /disconnects` counts them)
    reject       400 with an OpenAI error body ("this upstream rejects the request")

Run: python -m tests.recorder PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

RECORDED: list[dict[str, Any]] = []
DISCONNECTS: list[float] = []


def _chunk(content: str | None, finish: str | None = None, usage: bool = False) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-recorder",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "recorder",
        "choices": []
        if usage
        else [
            {"index": 0, "delta": {"content": content} if content else {}, "finish_reason": finish}
        ],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _completion() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-recorder",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "recorder",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "recorded"},
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
    ).encode()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break

    async def respond(status: int, payload: bytes, kind: bytes = b"application/json") -> None:
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", kind)]}
        )
        await send({"type": "http.response.body", "body": payload})

    path, method = scope["path"], scope["method"]
    if path == "/recorded":
        if method == "DELETE":
            RECORDED.clear()
        return await respond(200, json.dumps(RECORDED).encode())
    if path == "/disconnects":
        return await respond(200, json.dumps(len(DISCONNECTS)).encode())
    request = json.loads(body or b"{}")
    RECORDED.append({"path": path, "body": request})
    model = request.get("model")
    if model == "reject":
        error = {"error": {"message": "this upstream rejects the request", "type": "invalid"}}
        return await respond(400, json.dumps(error).encode())
    if not request.get("stream"):
        return await respond(200, _completion())
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream")],
        }
    )
    if model == "slow-stream":
        await _slow(send, receive)
        return
    for piece in (_chunk("rec"), _chunk("orded", "stop"), _chunk(None, usage=True)):
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


async def _slow(send: Any, receive: Any) -> None:
    gone = asyncio.ensure_future(receive())  # http.disconnect arrives when the client leaves
    for _ in range(600):
        if gone.done():
            DISCONNECTS.append(time.time())
            return
        await send({"type": "http.response.body", "body": _chunk("tick "), "more_body": True})
        await asyncio.sleep(0.05)
    gone.cancel()
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
