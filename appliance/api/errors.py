"""The one place errors become HTTP responses: OpenAI's `{"error": {...}}` body, right status.

Nothing else in the app catches exceptions to render them. Litestar's own HTTP exceptions
(unknown route, wrong method, body too large) are re-shaped the same way, and anything
unexpected becomes a 500 with a generic message: the traceback goes to the log, never to the
client (it could carry request data or secrets).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException

from appliance.errors import ApplianceError
from appliance.schemas import ErrorBody, ErrorDetail

log = logging.getLogger("appliance.api")
_encoder = msgspec.json.Encoder()

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> bytes:
    return _encoder.encode(ErrorBody(ErrorDetail(message, type_, param, code)))


def error_response(
    status: int,
    message: str,
    type_: str,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response[bytes]:
    return Response(
        error_body(message, type_, param, code),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def appliance_error_handler(_: Request[Any, Any, Any], exc: ApplianceError) -> Response[bytes]:
    headers = {"www-authenticate": "Bearer"} if exc.status == 401 else None
    return error_response(exc.status, exc.message, exc.type, exc.param, exc.code, headers)


def http_error_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    if status == 413:
        message = "Request body too large"
    elif status == 404:
        message = "Unknown endpoint"
    elif status == 405:
        message = "Method not allowed on this endpoint"
    elif status >= 500:
        message = "Internal error"
    else:
        message = str(exc.detail) if exc.detail else "Bad request"
    # Litestar's validation failures are 400s here; never a 422 with its internals.
    status = 400 if status == 422 else status
    return error_response(status, message, _TYPES.get(status, "api_error"), code=None)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "Internal error; see the appliance log", "api_error")


EXCEPTION_HANDLERS = {
    ApplianceError: appliance_error_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}
