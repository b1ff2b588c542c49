"""The gateway: the one public port (DESIGN §5)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from gateway.health import CLIENT_KEY, health
from gateway.settings import GatewaySettings
from shared.app import create_service_app
from shared.state import AppState


def create_app(settings: GatewaySettings | None = None) -> Starlette:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def upstream_client(state: AppState) -> AsyncIterator[None]:
        # One pooled client for the whole process (DESIGN §5).
        timeout = httpx.Timeout(
            settings.upstream_timeout, connect=settings.upstream_connect_timeout
        )
        async with httpx.AsyncClient(timeout=timeout) as client:
            state.extras[CLIENT_KEY] = client
            yield

    return create_service_app(
        settings,
        [],
        title="Micro Gateway",
        require_identity=False,
        hooks=[upstream_client],
        health=health,
        extra_routes=[Route("/api/health", health, methods=["GET"])],
    )
