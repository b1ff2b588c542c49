"""Starlette exception handlers that render everything in the shared error shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from shared.errors import AuthenticationError, InvalidRequestError, MicroError, NotFoundError
from shared.identity import identity_of
from shared.responses import error_response
from shared.v1 import Dialect, public_path

CATCH_ALL = "/{path:path}"


async def _micro_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MicroError)
    return error_response(exc)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error: MicroError
    if exc.status_code == 404:
        error = unrecognized(request.method, request.url.path, _dialect(request))
    elif exc.status_code == 405:
        error = method_not_allowed(request, fallback=(exc.headers or {}).get("Allow", ""))
    else:
        error = InvalidRequestError(str(exc.detail), code="http_error", status=exc.status_code)
    return error_response(error)


def unrecognized(method: str, path: str, dialect: Dialect = "micro") -> NotFoundError:
    """No route for the path: in Stripe's words for Stripe's clients, with the path they
    asked for (a service was sent the native one)."""
    if dialect != "stripe":
        return NotFoundError(f"Unrecognized request URL ({method} {path}).", code="route_not_found")
    path = public_path(path, dialect)
    hint = (
        " Nothing is served at a path ending in a slash: drop the slash to list, or put the "
        "object's id after it to retrieve one."
        if path.endswith("/")
        else ""
    )
    return NotFoundError(
        f"Unrecognized request URL ({method}: {path}).{hint} The Stripe resources Micro "
        "serves are listed at /docs (tag: Stripe-compatible API).",
        code="route_not_found",
    )


def method_not_allowed(request: Request, *, fallback: str = "") -> InvalidRequestError:
    """`fallback`: what Starlette offered, for a method only the catch-all's list leaves out."""
    path = public_path(request.url.path, _dialect(request))
    return InvalidRequestError(
        f"{request.method} is not allowed on {path}.",
        code="method_not_allowed",
        status=405,
        headers={"Allow": ", ".join(allowed_methods(request)) or fallback},
    )


def _dialect(request: Request) -> Dialect:
    try:
        return identity_of(request).dialect
    except AuthenticationError:  # the gateway's own routes, or refused before the identity
        return "micro"


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
