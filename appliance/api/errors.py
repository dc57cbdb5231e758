"""The one place errors become HTTP responses: OpenAI's `{"error": {...}}` body, right status.

Nothing else in the app catches exceptions to render them. Litestar's own HTTP exceptions
(unknown route, wrong method, body too large) are re-shaped the same way, and anything
unexpected becomes a 500 with a generic message: the traceback goes to the log, never to the
client (it could carry request data or secrets).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException

from appliance.errors import ApplianceError, BackendRateLimited, BudgetExceeded
from appliance.ledger.aggregates import month_bounds
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
    headers: dict[str, str] = {}
    if exc.status == 401:
        headers["www-authenticate"] = "Bearer"
    if exc.status in (429, 503):
        # Every refusal says when to come back, so a well-behaved client backs off.
        headers["retry-after"] = str(retry_after_s(exc))
    return error_response(exc.status, exc.message, exc.type, exc.param, exc.code, headers)


def retry_after_s(exc: ApplianceError) -> int:
    if isinstance(exc, BudgetExceeded):
        return max(1, int(month_bounds(time.time())[1] - time.time()))
    if isinstance(exc, BackendRateLimited) and exc.retry_after_s:
        return max(1, math.ceil(exc.retry_after_s))
    return 5 if exc.status == 503 else 1


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
    headers = {"retry-after": "5"} if status in (429, 503) else None
    return error_response(status, message, _TYPES.get(status, "api_error"), None, None, headers)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "Internal error; see the appliance log", "api_error")


EXCEPTION_HANDLERS = {
    ApplianceError: appliance_error_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}
