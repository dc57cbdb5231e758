"""`/v1/*`: the OpenAI-compatible surface. Thin: decode, call the pipeline, encode.

Bodies are decoded by msgspec straight from bytes (not Litestar's signature model) so that a
bad body becomes an OpenAI 400 naming the field, and the hot path stays a few microseconds.
The decoded JSON is kept on the request (`raw`) so upstream tiers receive the client's own
fields. Every answer carries the request's id, in the body and in `x-request-id`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import msgspec
import numpy as np
from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.response import Stream

from appliance.api import responses
from appliance.api.disconnect import unless_disconnected
from appliance.api.errors import error_body
from appliance.api.tokens import texts_of
from appliance.errors import ApplianceError, AuthFailed, InvalidRequest, UnknownModel
from appliance.pipeline import RequestContext
from appliance.router.planner import AUTO
from appliance.runtime import Runtime
from appliance.schemas import (
    ChatCompletionChunk,
    ChatCompletionRequest,
    Completion,
    CompletionRequest,
    EmbeddingData,
    EmbeddingRequest,
    EmbeddingResponse,
    EmbeddingUsage,
    ModelCard,
    ModelList,
)
from appliance.schemas.responses import ResponsesRequest
from appliance.security.keys import ANONYMOUS

T = TypeVar("T")
R = TypeVar("R", ChatCompletionRequest, CompletionRequest, ResponsesRequest)
_encoder = msgspec.json.Encoder()
_PATH = re.compile(r" - at `\$\.?(.*)`$")
EMBEDDING_MODEL = "all-minilm-l6-v2"
# nginx's "client closed request": nobody reads it, but the access log should say so.
CLIENT_CLOSED = 499


def decode_request(body: bytes, type_: type[R]) -> R:
    """A request Struct with the client's whole decoded body kept beside it (`raw`)."""
    req = decode_body(body, type_)
    raw = msgspec.json.decode(body)
    req.raw = raw if isinstance(raw, dict) else None
    return req


def decode_body(body: bytes, type_: type[T]) -> T:
    if not body:
        raise InvalidRequest("The request body is empty; expected a JSON object")
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _PATH.search(text)
        param = match.group(1) if match else None
        detail = text[: match.start()] if match else text
        where = f"{param}: " if param else ""
        raise InvalidRequest(f"Invalid request: {where}{detail}", param=param) from None
    except msgspec.DecodeError:
        raise InvalidRequest("The request body is not valid JSON") from None
    except RecursionError:
        raise InvalidRequest("The request body is nested too deeply") from None
    except UnicodeDecodeError:
        raise InvalidRequest("The request body is not valid UTF-8") from None


def sse(
    chunks: AsyncIterator[ChatCompletionChunk] | AsyncIterator[Completion], request_id: str
) -> AsyncIterator[bytes]:
    """Encode chunks as OpenAI does, each under the request's id; a failure after the first
    byte ends with one error event."""

    async def events() -> AsyncIterator[bytes]:
        try:
            async for chunk in chunks:
                chunk.id = request_id
                yield b"data: " + _encoder.encode(chunk) + b"\n\n"
        except ApplianceError as exc:
            yield b"data: " + error_body(exc.message, exc.type, exc.param, exc.code) + b"\n\n"
        yield b"data: [DONE]\n\n"

    return events()


class OpenAIController(Controller):
    path = "/v1"

    @post("/chat/completions", status_code=200)
    async def chat_completions(
        self, request: Request[Any, Any, Any], runtime: Runtime
    ) -> Response[bytes] | Stream:
        ctx = context(request, runtime)
        req = decode_request(await request.body(), ChatCompletionRequest)
        reply, gone = await unless_disconnected(request, runtime.pipeline.chat(req, ctx))
        if gone:
            return Response(b"", status_code=CLIENT_CLOSED)
        after = BackgroundTask(reply.after) if reply.after is not None else None
        if reply.chunks is not None:
            return Stream(
                sse(reply.chunks, ctx.request_id),
                media_type="text/event-stream",
                headers={**reply.headers, "cache-control": "no-cache"},
                background=after,
            )
        assert reply.body is not None
        reply.body.id = ctx.request_id
        return Response(
            _encoder.encode(reply.body),
            media_type="application/json",
            headers=reply.headers,
            background=after,
        )

    @post("/completions", status_code=200)
    async def completions(
        self, request: Request[Any, Any, Any], runtime: Runtime
    ) -> Response[bytes] | Stream:
        ctx = context(request, runtime)
        req = decode_request(await request.body(), CompletionRequest)
        ctx.request_id = f"cmpl-{ctx.request_id.removeprefix('chatcmpl-')}"
        reply, gone = await unless_disconnected(request, runtime.pipeline.text(req, ctx))
        if gone:
            return Response(b"", status_code=CLIENT_CLOSED)
        if reply.chunks is not None:
            return Stream(
                sse(reply.chunks, ctx.request_id),
                media_type="text/event-stream",
                headers={**reply.headers, "cache-control": "no-cache"},
            )
        assert reply.body is not None
        reply.body.id = ctx.request_id
        return Response(
            _encoder.encode(reply.body), media_type="application/json", headers=reply.headers
        )

    @post("/responses", status_code=200)
    async def create_response(
        self, request: Request[Any, Any, Any], runtime: Runtime
    ) -> Response[bytes] | Stream:
        ctx = context(request, runtime)
        req = decode_request(await request.body(), ResponsesRequest)
        ctx.request_id = f"resp_{ctx.request_id.removeprefix('chatcmpl-')}"
        reply, gone = await unless_disconnected(request, runtime.pipeline.responses(req, ctx))
        if gone:
            return Response(b"", status_code=CLIENT_CLOSED)
        after = BackgroundTask(reply.after) if reply.after is not None else None
        headers = {**reply.headers, "x-request-id": ctx.request_id}
        if reply.chunks is not None:
            return Stream(
                responses.event_stream(reply.chunks),
                media_type="text/event-stream",
                headers={**headers, "cache-control": "no-cache"},
                background=after,
            )
        assert reply.body is not None
        return Response(
            responses.encode(reply.body),
            media_type="application/json",
            headers=headers,
            background=after,
        )

    @get("/responses/{response_id:str}")
    async def get_response(
        self, request: Request[Any, Any, Any], response_id: str, runtime: Runtime
    ) -> Response[bytes]:
        context(request, runtime)
        body = responses.encode(responses.stored(runtime.pipeline, response_id))
        return Response(body, media_type="application/json")

    @get("/models")
    async def models(self, runtime: Runtime) -> ModelList:
        return ModelList(model_cards(runtime))

    @get("/models/{model_id:path}")
    async def model(self, model_id: str, runtime: Runtime) -> ModelCard:
        wanted = model_id.lstrip("/")
        for card in model_cards(runtime):
            if card.id == wanted:
                return card
        raise UnknownModel(f"The model `{wanted}` does not exist", param="model")

    @post("/embeddings", status_code=200)
    async def embeddings(
        self, request: Request[Any, Any, Any], runtime: Runtime
    ) -> Response[bytes]:
        req = decode_body(await request.body(), EmbeddingRequest)
        if req.model not in (
            EMBEDDING_MODEL,
            AUTO,
            "text-embedding-ada-002",
            "text-embedding-3-small",
        ):
            raise UnknownModel(
                f"The embedding model `{req.model}` does not exist; use `{EMBEDDING_MODEL}`",
                param="model",
            )
        texts = texts_of(req.input)
        if req.dimensions is not None and req.dimensions != 384:
            raise InvalidRequest("this model has 384 dimensions", param="dimensions")
        ctx = context(request, runtime)
        ctx.request_id = f"emb-{ctx.request_id.removeprefix('chatcmpl-')}"
        vectors, tokens = await runtime.pipeline.embeddings(texts, EMBEDDING_MODEL, ctx)
        data = [
            EmbeddingData(index=i, embedding=_vector_out(v, req.encoding_format))
            for i, v in enumerate(vectors)
        ]
        body = EmbeddingResponse(data, EMBEDDING_MODEL, EmbeddingUsage(tokens, tokens))
        return Response(_encoder.encode(body), media_type="application/json")


def model_cards(runtime: Runtime) -> list[ModelCard]:
    """`auto`, each tier's model (once), and the embedding model."""
    created = int(runtime.started_at)
    cards = [ModelCard(id=AUTO, created=created, owned_by="appliance")]
    seen = {AUTO}
    for tier in runtime.tiers.tiers:
        if tier.model not in seen:
            seen.add(tier.model)
            cards.append(ModelCard(id=tier.model, created=created, owned_by=f"tier:{tier.name}"))
    cards.append(ModelCard(id=EMBEDDING_MODEL, created=created, owned_by="appliance"))
    return cards


def context(request: Request[Any, Any, Any], runtime: Runtime) -> RequestContext:
    """Who is asking and how they want the cache used. With no client keys configured the
    endpoint is open (local-only default); with keys, a valid one is required."""
    client = ANONYMOUS
    if runtime.keys.has_keys():
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        found = runtime.keys.authenticate(key.strip()) if scheme.lower() == "bearer" else None
        if found is None:
            raise AuthFailed("Invalid or missing API key; send `Authorization: Bearer <key>`")
        client = found
    directives = request.headers.get("cache-control", "").lower()
    return RequestContext(
        client=client, no_store="no-store" in directives, no_cache="no-cache" in directives
    )


def _vector_out(vector: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(vector.astype(np.float32).tobytes()).decode("ascii")
    return [float(x) for x in vector]
