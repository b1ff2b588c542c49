"""The gateway's `/health`: 200 only when every service behind it is ready."""

from __future__ import annotations

import asyncio

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.settings import GatewaySettings
from shared.state import app_state

CLIENT_KEY = "upstream_client"


async def health(request: Request) -> JSONResponse:
    state = app_state(request)
    settings = state.settings
    assert isinstance(settings, GatewaySettings)
    client: httpx.AsyncClient = state.extras[CLIENT_KEY]
    upstreams = settings.upstreams()
    results = await asyncio.gather(
        *(_ready(client, url, settings.ready_timeout) for url in upstreams.values())
    )
    services = dict(zip(upstreams, results, strict=True))
    ok = all(value == "ready" for value in services.values())
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "service": "gateway", "services": services},
        status_code=200 if ok else 503,
    )


async def _ready(client: httpx.AsyncClient, base: str, limit: float) -> str:
    try:
        response = await client.get(f"{base}/ready", timeout=limit)
    except httpx.HTTPError as exc:
        return f"down: {exc.__class__.__name__}"
    if response.status_code == 200:
        return "ready"
    return f"not ready ({response.status_code})"
