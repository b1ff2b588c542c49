"""Forwarding a request to its service over the process's one pooled aiohttp client.

aiohttp rather than httpx: on this hardware a bare pass-through proxy on aiohttp's client
served several times the requests/s of the same proxy on httpx (see `make bench BENCH=gateway`).

A service may have several replicas (`shared.balancer.Replicas`): the request goes to the
first in `order()`, and on to the next only when that cannot do a thing twice: always when
the connection was refused or never opened (nothing was sent); when the request was sent
and its answer lost (disconnected, reset, a broken response) only for a replay-safe method
or a request with an Idempotency-Key; never after a timeout (the replica may still be
working on it). When no replica answers, the last failure is the client's answer: 503
`upstream_unavailable`, 502 `upstream_error` or 504 `upstream_timeout`.

This is every proxied request's path (`make bench BENCH=gateway`): with one replica it
costs what it did before replicas, and the retry bookkeeping runs only on a failure.
"""

from __future__ import annotations

import aiohttp
from multidict import CIMultiDict
from starlette.requests import Request
from starlette.responses import Response
from yarl import URL

from gateway.metrics import UPSTREAM_ERRORS, UPSTREAM_RETRIES
from shared.balancer import Replicas, replay_safe
from shared.body import read_body
from shared.context import current_request_id
from shared.errors import UpstreamError
from shared.tracing import client_span, enabled, fail, inject, path_ids

# Headers that describe one connection, not the message (RFC 9110 §7.6.1), and ours.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_NOT_FORWARDED_UP = _HOP_BY_HOP | {"authorization", "x-micro-identity", "x-request-id"}
_NOT_FORWARDED_DOWN = _HOP_BY_HOP | {"date", "server", "x-request-id"}


def new_client(
    *, max_connections: int, timeout: float, connect_timeout: float
) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        # Idle connections are dropped here before the services drop them
        # (cli/serve.py KEEP_ALIVE_SECONDS): the pool never reuses one being closed.
        connector=aiohttp.TCPConnector(limit=max_connections, keepalive_timeout=30),
        timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout),
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept-Encoding"),
    )


async def forward_traced(
    request: Request,
    client: aiohttp.ClientSession,
    *,
    upstream: Replicas,
    path: str,
    identity_token: str,
    body_limit: int,
    client_ip: str,
) -> Response:
    """`forward` as a CLIENT span (tracing on): the upstream continues this span's trace."""
    attributes = {
        "http.request.method": request.method,
        "url.path": path,
        "micro.upstream": upstream.name,
        **path_ids(path),
    }
    with client_span(f"{request.method} {upstream.name}", attributes=attributes) as span:
        try:
            response = await forward(
                request,
                client,
                upstream=upstream,
                path=path,
                identity_token=identity_token,
                body_limit=body_limit,
                client_ip=client_ip,
            )
        except UpstreamError as exc:
            fail(span, exc.code)
            raise
        if span is not None:
            span.set_attribute("http.response.status_code", response.status_code)
        return response


async def forward(
    request: Request,
    client: aiohttp.ClientSession,
    *,
    upstream: Replicas,
    path: str,
    identity_token: str,
    body_limit: int,
    client_ip: str,
) -> Response:
    body = await read_body(request, body_limit)
    headers: CIMultiDict[str] = CIMultiDict()
    for raw_name, raw_value in request.headers.raw:
        name = raw_name.decode("latin-1")
        if name.lower() not in _NOT_FORWARDED_UP:
            headers.add(name, raw_value.decode("latin-1"))
    headers["X-Micro-Identity"] = identity_token
    headers["X-Request-Id"] = current_request_id() or ""
    headers["X-Forwarded-For"] = client_ip
    headers["X-Forwarded-Proto"] = request.url.scheme
    if enabled():
        inject(headers)  # this hop's span; off, the caller's own headers went up as they came
    query = request.scope.get("query_string", b"").decode("latin-1")
    target = f"{path}?{query}" if query else path
    method = request.method
    service = upstream.name
    order = upstream.order()
    kind: str
    again: str | None  # why the request goes on to the next replica, if it may
    for tried, base_url in enumerate(order, start=1):
        try:
            async with client.request(
                method,
                URL(base_url + target, encoded=True),
                data=body or None,
                headers=headers,
                allow_redirects=False,
            ) as answer:
                content = await answer.read()
                status = answer.status
                raw = [
                    (name.lower().encode("latin-1"), value.encode("latin-1"))
                    for name, value in answer.headers.items()
                    if name.lower() not in _NOT_FORWARDED_DOWN
                ]
        except aiohttp.ConnectionTimeoutError:
            # Never connected, so nothing was sent: the next replica may take it.
            kind, again = "timeout", "connect"
            error = UpstreamError(
                f"The {service} service did not answer in time.",
                code="upstream_timeout",
                status=504,
            )
        except TimeoutError:
            # Sent, and maybe still running there: a second replica could do it twice.
            UPSTREAM_ERRORS.labels(service, "timeout").inc()
            raise UpstreamError(
                f"The {service} service did not answer in time.",
                code="upstream_timeout",
                status=504,
            ) from None
        except aiohttp.ClientConnectorError:
            kind, again = "connect", "connect"
            error = UpstreamError(
                f"The {service} service is unavailable.", code="upstream_unavailable", status=503
            )
        except aiohttp.ClientError as exc:
            kind = "protocol"
            safe = replay_safe(method, idempotency_key="Idempotency-Key" in headers)
            again = "disconnect" if safe else None
            error = UpstreamError(
                f"The {service} service failed to answer ({exc.__class__.__name__}).",
                code="upstream_error",
                status=502,
            )
        else:
            upstream.succeeded(base_url)
            response = Response(content, status_code=status)
            response.raw_headers = [(b"content-length", str(len(content)).encode()), *raw]
            return response
        upstream.failed(base_url)
        UPSTREAM_ERRORS.labels(service, kind).inc()
        if again is None or tried == len(order):
            raise error
        UPSTREAM_RETRIES.labels(service, again).inc()
    raise AssertionError("unreachable: the last replica's failure is raised in the loop")
