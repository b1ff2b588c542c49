"""The gateway's `/health`: 200 only when every service behind it is ready."""

from __future__ import annotations

import asyncio

import aiohttp
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.state import gateway_state
from shared.balancer import Replicas
from shared.openapi import documented


class GatewayHealth(BaseModel):
    status: str = Field(examples=["ok"], description="`ok`, or `degraded` with 503.")
    service: str = Field(examples=["gateway"])
    services: dict[str, str] = Field(
        description=(
            "Each service: `ready`, `not ready (status)` or `down: reason`. A service with "
            "replicas is ready while one of them is, and says which others are not."
        ),
        examples=[{"auth": "ready", "payments": "ready", "ledger": "ready", "wallet": "ready"}],
    )


@documented(
    response=GatewayHealth,
    errors={503: "A service behind the gateway is not ready (the body says which)"},
    operation_id="gateway_health",
)
async def health(request: Request) -> JSONResponse:
    """Whether the gateway and every service behind it are ready.

    200 when every service answers its readiness probe (one replica of it at least: the
    gateway sends requests to the ones that do); 503, with the same body, when one does
    not. Load balancers and `micro dev status` poll it.
    """
    gateway = gateway_state(request)
    results = await asyncio.gather(
        *(
            _service(gateway.client, replicas, gateway.settings.ready_timeout)
            for replicas in gateway.upstreams.values()
        )
    )
    services = {name: said for name, (_, said) in zip(gateway.upstreams, results, strict=True)}
    ok = all(ready for ready, _ in results)
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "service": "gateway", "services": services},
        status_code=200 if ok else 503,
    )


async def _service(
    client: aiohttp.ClientSession, replicas: Replicas, limit: float
) -> tuple[bool, str]:
    """Whether the service can serve, and what /health says of it."""
    said = await asyncio.gather(*(_ready(client, url, limit) for url in replicas.urls))
    if len(said) == 1:
        return said[0] == "ready", said[0]
    ready = said.count("ready")
    if ready == len(said):
        return True, "ready"
    others = "; ".join(
        f"{url} {value}" for url, value in zip(replicas.urls, said, strict=True) if value != "ready"
    )
    if ready:
        return True, f"ready ({ready} of {len(said)} replicas; {others})"
    return False, f"down: no replica ready ({others})"


async def _ready(client: aiohttp.ClientSession, base: str, limit: float) -> str:
    try:
        async with client.get(f"{base}/ready", timeout=aiohttp.ClientTimeout(total=limit)) as r:
            status = r.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"down: {exc.__class__.__name__}"
    return "ready" if status == 200 else f"not ready ({status})"
