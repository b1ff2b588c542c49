"""The outermost middleware of every app: request id, access log, metrics, last-resort errors.

It sits outside everything else so that an error raised by any inner middleware, and any
unhandled exception, still leaves as the shared error JSON with the request id, and every
response carries ``X-Request-Id``.
"""

from __future__ import annotations

import logging
import re
import time
from contextlib import nullcontext

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.context import request_id_var
from shared.errors import ApiError, InvalidRequestError, MicroError
from shared.ids import new_id
from shared.metrics import observe
from shared.responses import error_response
from shared.tracing import finish_request, request_span

log = logging.getLogger("micro.request")

REQUEST_ID_HEADER = b"x-request-id"
# Accept a caller's id only if it is short and printable, so logs cannot be forged.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or new_id("req")
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
            await send(message)

        quiet = scope["path"] in _QUIET_PATHS
        # The span is the request's whole life, so the access log line carries its ids.
        traced = nullcontext(None) if quiet else request_span(scope, service=self.service)
        with traced as span:
            try:
                if _has_nul(scope):
                    raise InvalidRequestError(
                        "The URL contains a NUL character.", code="parameter_invalid"
                    )
                await self.app(scope, receive, send_with_id)
            except MicroError as exc:
                if response_started:
                    raise
                await error_response(exc)(scope, receive, send_with_id)
            except Exception:
                log.exception("unhandled error", extra={"path": scope["path"]})
                if response_started:
                    raise
                await error_response(ApiError("An internal error occurred."))(
                    scope, receive, send_with_id
                )
            finally:
                if scope["type"] == "http":
                    elapsed = time.perf_counter() - started
                    route = _route_template(scope)
                    observe(self.service, scope["method"], route, status, elapsed)
                    finish_request(span, scope, route=route, status=status)
                    if not quiet:
                        ms = round(elapsed * 1000, 2)
                        log.info(
                            "%s %s %s",
                            scope["method"],
                            scope["path"],
                            status,
                            extra={"status": status, "route": route, "ms": ms},
                        )
                request_id_var.reset(token)


def _has_nul(scope: Scope) -> bool:
    return (
        "\x00" in scope["path"]
        or b"%00" in scope.get("query_string", b"")
        or (b"%00" in scope.get("raw_path", b""))
    )


def _incoming_request_id(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == REQUEST_ID_HEADER:
            candidate = value.decode("latin-1")
            return candidate if _VALID_REQUEST_ID.match(candidate) else None
    return None


def _route_template(scope: Scope) -> str:
    """The matched route's path template keeps metric labels bounded (no ids in them)."""
    label = scope.get("micro.route")
    if isinstance(label, str):
        return label
    route = scope.get("route")
    if isinstance(route, BaseRoute):
        return str(getattr(route, "path", "<mount>"))
    return "<unmatched>"
