"""Starlette exception handlers that render everything in the shared error shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from shared.errors import InvalidRequestError, MicroError, NotFoundError
from shared.responses import error_response


async def _micro_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MicroError)
    return error_response(exc)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error: MicroError
    if exc.status_code == 404:
        error = NotFoundError(
            f"Unrecognized request URL ({request.method} {request.url.path}).",
            code="route_not_found",
        )
    elif exc.status_code == 405:
        error = InvalidRequestError(
            f"{request.method} is not allowed on {request.url.path}.",
            code="method_not_allowed",
            status=405,
            headers=dict(exc.headers or {}),
        )
    else:
        error = InvalidRequestError(str(exc.detail), code="http_error", status=exc.status_code)
    return error_response(error)


EXCEPTION_HANDLERS: Mapping[Any, Any] = {
    MicroError: _micro_error,
    HTTPException: _http_exception,
}
