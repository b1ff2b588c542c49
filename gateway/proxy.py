"""Forwarding a request to its service over the process's one pooled aiohttp client.

aiohttp rather than httpx: on this hardware a bare pass-through proxy on aiohttp's client
served several times the requests/s of the same proxy on httpx (see `make bench BENCH=gateway`).
"""

from __future__ import annotations

import aiohttp
from multidict import CIMultiDict
from starlette.requests import Request
from starlette.responses import Response
from yarl import URL

from gateway.metrics import UPSTREAM_ERRORS
from shared.body import read_body
from shared.context import current_request_id
from shared.errors import UpstreamError

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
        connector=aiohttp.TCPConnector(limit=max_connections, keepalive_timeout=30),
        timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout),
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept-Encoding"),
    )


async def forward(
    request: Request,
    client: aiohttp.ClientSession,
    *,
    service: str,
    base_url: str,
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
    query = request.scope.get("query_string", b"").decode("latin-1")
    url = URL(f"{base_url}{path}{'?' + query if query else ''}", encoded=True)
    try:
        async with client.request(
            request.method, url, data=body or None, headers=headers, allow_redirects=False
        ) as upstream:
            content = await upstream.read()
            status = upstream.status
            raw = [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in upstream.headers.items()
                if name.lower() not in _NOT_FORWARDED_DOWN
            ]
    except TimeoutError:
        UPSTREAM_ERRORS.labels(service, "timeout").inc()
        raise UpstreamError(
            f"The {service} service did not answer in time.", code="upstream_timeout", status=504
        ) from None
    except aiohttp.ClientConnectorError:
        UPSTREAM_ERRORS.labels(service, "connect").inc()
        raise UpstreamError(
            f"The {service} service is unavailable.", code="upstream_unavailable", status=503
        ) from None
    except aiohttp.ClientError as exc:
        UPSTREAM_ERRORS.labels(service, "protocol").inc()
        raise UpstreamError(
            f"The {service} service failed to answer ({exc.__class__.__name__}).",
            code="upstream_error",
            status=502,
        ) from None
    response = Response(content, status_code=status)
    response.raw_headers = [(b"content-length", str(len(content)).encode()), *raw]
    return response
