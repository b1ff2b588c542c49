"""Running an app in-process: its lifespan, then requests through httpx.ASGITransport."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.identity import Identity, mint
from tests.support.secrets import TEST_IDENTITY_KEY


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
