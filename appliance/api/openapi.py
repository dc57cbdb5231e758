"""The OpenAPI document of the public and admin surface, built from the msgspec wire types.

Handlers decode bodies themselves (for OpenAI-style errors), so Litestar cannot infer the
request schemas; this module states them once, from the same Structs the handlers decode
into, so the document cannot drift from the code. Served at `/openapi.json`; the fuzz tests
(schemathesis) read it. `/admin/events` (an endless stream) is left out on purpose.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response, get

from appliance.admin.messages import (
    ConfigPatch,
    CurvePoint,
    FeedbackRequest,
    FeedbackResult,
    FlaggedEntry,
    InvalidateRequest,
    InvalidateResult,
    LiveConfig,
    RequestEvent,
    RoutingPreview,
    Stats,
)
from appliance.schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    Completion,
    CompletionRequest,
    EmbeddingRequest,
    EmbeddingResponse,
    ErrorBody,
    ModelCard,
    ModelList,
)
from appliance.schemas.responses import Response as ResponseObject
from appliance.schemas.responses import ResponsesRequest
from appliance.version import version

_TYPES = [
    ChatCompletionRequest,
    ChatCompletion,
    CompletionRequest,
    Completion,
    EmbeddingRequest,
    EmbeddingResponse,
    ModelList,
    ModelCard,
    ResponsesRequest,
    ResponseObject,
    ErrorBody,
    Stats,
    LiveConfig,
    ConfigPatch,
    InvalidateRequest,
    InvalidateResult,
    FeedbackRequest,
    FeedbackResult,
    RoutingPreview,
    list[CurvePoint],
    list[FlaggedEntry],
    list[RequestEvent],
]
_ERRORS = (400, 401, 404, 413, 429, 502, 503, 504)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(
    summary: str,
    ok: dict[str, Any],
    body: str | None = None,
    admin: bool = False,
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "OK", "content": ok}}
    for status in _ERRORS:
        responses[str(status)] = {"description": "Error", "content": _json(_ref("ErrorBody"))}
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if body:
        op["requestBody"] = {"required": True, "content": _json(_ref(body))}
    if admin:
        op["security"] = [{"admin": []}]
    if params:
        op["parameters"] = params
    return op


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, type_: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": type_}}


def build_document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        _TYPES, ref_template="#/components/schemas/{name}"
    )
    chat_ok = {**_json(_ref("ChatCompletion")), "text/event-stream": {"schema": {"type": "string"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "LLM appliance", "version": version()},
        "paths": {
            "/v1/chat/completions": {
                "post": _operation("Chat completion", chat_ok, "ChatCompletionRequest")
            },
            "/v1/completions": {
                "post": _operation(
                    "Text completion (legacy)",
                    {
                        **_json(_ref("Completion")),
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                    "CompletionRequest",
                )
            },
            "/v1/embeddings": {
                "post": _operation(
                    "Embeddings", _json(_ref("EmbeddingResponse")), "EmbeddingRequest"
                )
            },
            "/v1/responses": {
                "post": _operation(
                    "Responses API",
                    {
                        **_json(_ref("Response")),
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                    "ResponsesRequest",
                )
            },
            "/v1/responses/{response_id}": {
                "get": _operation(
                    "A stored response", _json(_ref("Response")), params=[_path("response_id")]
                )
            },
            "/v1/models": {"get": _operation("Models", _json(_ref("ModelList")))},
            "/v1/models/{model_id}": {
                "get": _operation("One model", _json(_ref("ModelCard")), params=[_path("model_id")])
            },
            "/healthz": {
                "get": {"summary": "Liveness", "responses": {"200": {"description": "OK"}}}
            },
            "/admin/stats": {"get": _operation("Stats", _json(_ref("Stats")), admin=True)},
            "/admin/config": {
                "get": _operation("Live config", _json(_ref("LiveConfig")), admin=True),
                "patch": _operation(
                    "Change live config", _json(_ref("LiveConfig")), "ConfigPatch", admin=True
                ),
            },
            "/admin/cache/invalidate": {
                "post": _operation(
                    "Invalidate cache entries",
                    _json(_ref("InvalidateResult")),
                    "InvalidateRequest",
                    admin=True,
                )
            },
            "/admin/cache/feedback": {
                "post": _operation(
                    "A verdict on a served cache entry",
                    _json(_ref("FeedbackResult")),
                    "FeedbackRequest",
                    admin=True,
                )
            },
            "/admin/cache/flagged": {
                "get": _operation(
                    "Cache entries flagged wrong",
                    _json({"type": "array", "items": _ref("FlaggedEntry")}),
                    admin=True,
                    params=[_query("limit", "integer")],
                )
            },
            "/admin/routing/curve": {
                "get": _operation(
                    "The router's quality/cost curve",
                    _json({"type": "array", "items": _ref("CurvePoint")}),
                    admin=True,
                )
            },
            "/admin/routing/preview": {
                "get": _operation(
                    "What a quality target or cut points should give",
                    _json(_ref("RoutingPreview")),
                    admin=True,
                    params=[_query("quality_target", "number"), _query("cut_points", "string")],
                )
            },
            "/admin/recent": {
                "get": _operation(
                    "Recent events",
                    _json({"type": "array", "items": _ref("RequestEvent")}),
                    admin=True,
                    params=[_query("limit", "integer")],
                )
            },
            "/admin/ledger": {
                "get": _operation(
                    "Ledger rows",
                    {
                        "application/json": {"schema": {"type": "array"}},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                    admin=True,
                    params=[
                        _query("since", "number"),
                        _query("until", "number"),
                        _query("format", "string"),
                    ],
                )
            },
        },
        "components": {
            "schemas": components,
            "securitySchemes": {"admin": {"type": "http", "scheme": "bearer"}},
        },
    }


@get("/openapi.json", sync_to_thread=False)
def openapi_document() -> Response[bytes]:
    return Response(msgspec.json.encode(build_document()), media_type="application/json")
