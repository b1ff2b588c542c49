"""The one error model of Micro.

Every failure a client can see is rendered as
``{"error": {"type", "code", "message", "param", "request_id"}}``.

Exception tree::

    MicroError                      500 api_error (base; never raised bare for bad input)
    ├── InvalidRequestError         400 invalid_request_error
    │   ├── NotFoundError           404 resource_missing
    │   ├── ConflictError           409
    │   └── PayloadTooLargeError    413 payload_too_large
    ├── AuthenticationError         401 authentication_error
    ├── PermissionDeniedError       403 permission_error
    ├── RateLimitError              429 rate_limit_error
    ├── IdempotencyError            400/409 idempotency_error
    ├── CardError                   402 card_error
    └── ApiError                    500 api_error
        └── UpstreamError           502/503/504 api_error (a dependency failed)

Domains subclass these with their own codes; they never invent new shapes.
"""

from __future__ import annotations

from typing import Any, ClassVar


class MicroError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "api_error"
    default_code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.param = param
        self.status_code = status or self.status
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self, request_id: str | None) -> dict[str, Any]:
        return error_body(
            type=self.type,
            code=self.code,
            message=self.message,
            param=self.param,
            request_id=request_id,
            extra=self.extra,
        )


def error_body(
    *,
    type: str,
    code: str,
    message: str,
    param: str | None = None,
    request_id: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "type": type,
        "code": code,
        "message": message,
        "param": param,
        "request_id": request_id,
    }
    if extra:
        error.update(extra)
    return {"error": error}


class InvalidRequestError(MicroError):
    status = 400
    type = "invalid_request_error"
    default_code = "parameter_invalid"


class NotFoundError(InvalidRequestError):
    status = 404
    default_code = "resource_missing"


class ConflictError(InvalidRequestError):
    status = 409
    default_code = "conflict"


class PayloadTooLargeError(InvalidRequestError):
    status = 413
    default_code = "payload_too_large"


class AuthenticationError(MicroError):
    status = 401
    type = "authentication_error"
    default_code = "unauthenticated"


class PermissionDeniedError(MicroError):
    status = 403
    type = "permission_error"
    default_code = "forbidden"


class RateLimitError(MicroError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limited"


class IdempotencyError(MicroError):
    status = 400
    type = "idempotency_error"
    default_code = "idempotency_key_reused"


class CardError(MicroError):
    status = 402
    type = "card_error"
    default_code = "card_declined"


class ApiError(MicroError):
    status = 500
    type = "api_error"
    default_code = "internal_error"


class UpstreamError(ApiError):
    status = 502
    default_code = "upstream_unavailable"
