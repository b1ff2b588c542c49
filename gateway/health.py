"""The gateway's `/health`: 200 only when every service behind it is ready."""

from __future__ import annotations

import asyncio

import aiohttp
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.state import gateway_state
from shared.openapi import documented


class GatewayHealth(BaseModel):
    status: str = Field(examples=["ok"], description="`ok`, or `degraded` with 503.")
    service: str = Field(examples=["gateway"])
    services: dict[str, str] = Field(
        description="Each service: `ready`, `not ready (status)` or `down: reason`.",
        examples=[{"auth": "ready", "payments": "ready", "ledger": "ready", "wallet": "ready"}],
    )


@documented(
    response=GatewayHealth,
    errors={503: "A service behind the gateway is not ready (the body says which)"},
    operation_id="gateway_health",
)
async def health(request: Request) -> JSONResponse:
    """Whether the gateway and every service behind it are ready.

    200 when every service answers its readiness probe; 503, with the same body, when one
    does not. Load balancers and `micro dev status` poll it.
    """
    gateway = gateway_state(request)
    upstreams = gateway.settings.upstreams()
    results = await asyncio.gather(
        *(_ready(gateway.client, url, gateway.settings.ready_timeout) for url in upstreams.values())
    )
    services = dict(zip(upstreams, results, strict=True))
    ok = all(value == "ready" for value in services.values())
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "service": "gateway", "services": services},
        status_code=200 if ok else 503,
    )


async def _ready(client: aiohttp.ClientSession, base: str, limit: float) -> str:
    try:
        async with client.get(f"{base}/ready", timeout=aiohttp.ClientTimeout(total=limit)) as r:
            status = r.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"down: {exc.__class__.__name__}"
    return "ready" if status == 200 else f"not ready ({status})"
