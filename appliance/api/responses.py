"""`POST /v1/responses` and `GET /v1/responses/{id}`: encoding only (the story is
`pipeline/responses.py`). Streams are server-sent events with an `event:` line naming each
event's type, as OpenAI sends them; there is no `[DONE]` terminator in this API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from appliance.errors import NotFound
from appliance.pipeline import Pipeline
from appliance.schemas.responses import Response, ResponseEvent

_encoder = msgspec.json.Encoder()


def event_stream(events: AsyncIterator[ResponseEvent]) -> AsyncIterator[bytes]:
    async def encoded() -> AsyncIterator[bytes]:
        async for event in events:
            name = event.type.encode()
            yield b"event: " + name + b"\ndata: " + _encoder.encode(event) + b"\n\n"

    return encoded()


def encode(response: Response) -> bytes:
    return _encoder.encode(response)


def stored(pipeline: Pipeline, response_id: str) -> Response:
    found = pipeline.stored.get(response_id)
    if found is None:
        raise NotFound(f"Response with id '{response_id}' not found", param="response_id")
    return found.response
