"""JSON responses and the rendering of errors in the shared shape."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from shared.context import current_request_id
from shared.errors import MicroError


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=headers)


def error_response(exc: MicroError) -> JSONResponse:
    return JSONResponse(
        exc.body(current_request_id()), status_code=exc.status_code, headers=exc.headers or None
    )
