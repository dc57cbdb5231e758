"""The appliance's error tree; each class carries its HTTP status and OpenAI error `type`.

    ApplianceError
    ├── InvalidRequest        400 invalid_request_error
    │   └── PayloadTooLarge   413
    ├── AuthFailed            401 authentication_error
    ├── PermissionDenied      403 permission_error
    ├── UnknownModel          404 invalid_request_error (code model_not_found)
    ├── NotFound              404
    ├── BudgetExceeded        429 insufficient_quota
    ├── BackendError          502 api_error   (one backend attempt failed; the pipeline escalates)
    │   ├── BackendTimeout    504
    │   ├── BackendRateLimited 429 (upstream said 429/402: the tier cools down)
    │   ├── EmptyStream       502 (a stream ended before its first chunk)
    │   └── InvalidOutput     502 (answer failed the requested structured output)
    └── BackendUnavailable    503 service_unavailable (no tier could answer)

The pipeline raises them; `api/errors.py` renders the OpenAI error body in one place. Backend
libraries' errors are wrapped at the backend boundary and chained with `from`.
"""

from __future__ import annotations


class ApplianceError(Exception):
    status = 500
    type = "api_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class InvalidRequest(ApplianceError):
    status = 400
    type = "invalid_request_error"


class PayloadTooLarge(InvalidRequest):
    status = 413
    code = "payload_too_large"


class AuthFailed(ApplianceError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(ApplianceError):
    status = 403
    type = "permission_error"


class UnknownModel(ApplianceError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class NotFound(ApplianceError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class BudgetExceeded(ApplianceError):
    status = 429
    type = "insufficient_quota"
    code = "budget_exceeded"


class BackendError(ApplianceError):
    """One attempt on one tier failed; `kind` becomes the route reason (`escalated:<kind>`)."""

    status = 502
    type = "api_error"
    kind = "error"


class BackendTimeout(BackendError):
    status = 504
    kind = "timeout"


class BackendRateLimited(BackendError):
    status = 429
    kind = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class EmptyStream(BackendError):
    kind = "empty_stream"


class InvalidOutput(BackendError):
    kind = "invalid_output"


class BackendUnavailable(ApplianceError):
    status = 503
    type = "service_unavailable"
    code = "no_tier_available"
