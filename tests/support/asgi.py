"""Running an app in-process: its lifespan, then requests through httpx.ASGITransport; or under
uvicorn on a free port, for what needs a real server (WebSockets, a proxy in front)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from cli.stack.ports import free_port
from shared.identity import Identity, mint
from tests.support.secrets import TEST_IDENTITY_KEY

# The `service_client` fixture: `async with service_client("ledger") as client:`.
ServiceClient = Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]


class _WithState:
    """What a server does with lifespan state: a copy of it in every request's scope."""

    def __init__(self, app: ASGIApp, state: Mapping[str, Any]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"] = dict(self.state)
        await self.app(scope, receive, send)


@contextlib.asynccontextmanager
async def serve_in_process(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(app=_WithState(app, state or {}))
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


@contextlib.asynccontextmanager
async def serve_with_uvicorn(app: Starlette) -> AsyncIterator[str]:
    """The app under uvicorn on a free port (WebSockets need a real server); its host:port."""
    port = free_port()
    # As `micro serve` runs it: X-Forwarded-* are the gateway's to judge, not uvicorn's.
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="on",
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server exited during start-up")
        await asyncio.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def identity_headers(
    *,
    tenant_id: str | None = "ten_test",
    livemode: bool = False,
    principal: str = "key_test",
    principal_type: Any = "api_key",
    role: Any = None,
    secret: str = TEST_IDENTITY_KEY,
) -> dict[str, str]:
    identity = Identity(
        principal=principal,
        principal_type=principal_type,
        tenant_id=tenant_id,
        livemode=livemode,
        role=role,
    )
    return {"X-Micro-Identity": mint(identity, secret)}
