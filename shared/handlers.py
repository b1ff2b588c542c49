"""Starlette exception handlers that render everything in the shared error shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from shared.errors import InvalidRequestError, MicroError, NotFoundError
from shared.responses import error_response

CATCH_ALL = "/{path:path}"


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
        error = method_not_allowed(request, fallback=(exc.headers or {}).get("Allow", ""))
    else:
        error = InvalidRequestError(str(exc.detail), code="http_error", status=exc.status_code)
    return error_response(error)


def method_not_allowed(request: Request, *, fallback: str = "") -> InvalidRequestError:
    """`fallback`: what Starlette offered, for a method only the catch-all's list leaves out."""
    return InvalidRequestError(
        f"{request.method} is not allowed on {request.url.path}.",
        code="method_not_allowed",
        status=405,
        headers={"Allow": ", ".join(allowed_methods(request)) or fallback},
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method the path takes. Starlette names only the first route that matched the
    path, and our routes are one per method, so `Allow` would list one of several."""
    matched: dict[str, set[str]] = {}
    for route in request.app.router.routes:
        # The gateway's catch-all takes every path; it says nothing about this one.
        if isinstance(route, Route) and route.methods and route.path != CATCH_ALL:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                matched.setdefault(route.path, set()).update(route.methods)
    if not matched:
        return []
    # `/wallet/withdraw` also fits `/wallet/{wallet_id}`; the literal path is the resource.
    resource = min(matched, key=lambda path: path.count("{"))
    return sorted(matched[resource])


EXCEPTION_HANDLERS: Mapping[Any, Any] = {
    MicroError: _micro_error,
    HTTPException: _http_exception,
}
