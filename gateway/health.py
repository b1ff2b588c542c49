"""The gateway's `/health`: 200 only when every service behind it is ready."""

from __future__ import annotations

import asyncio
from typing import Literal

import aiohttp
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.handler import authorize
from gateway.routing import Access, Rule, Target
from gateway.state import gateway_state
from shared.access import Role, RoleRequiredError
from shared.balancer import Replicas
from shared.health import OutboxBacklog
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


# -- outbox backlogs (platform admins) --------------------------------------------------------

OUTBOXES_RULE = Rule("/system", "gateway", Access.SESSION)


class Outboxes(BaseModel):
    object: Literal["outboxes"] = "outboxes"
    services: dict[str, OutboxBacklog | None] = Field(
        description=(
            "Each service's outbox: events committed and not yet published to Redis, and the "
            "oldest one's age. Null for a service none of whose replicas answered with it."
        ),
        examples=[{"payments": {"pending": 0, "oldest_seconds": None}}],
    )


@documented(
    response=Outboxes,
    operation_id="system_outboxes",
    errors={403: "Not a platform admin's session (`role_required`)"},
)
async def outboxes(request: Request) -> JSONResponse:
    """How far each service's outbox relay is behind, for operators.

    Read from each service's readiness answer (every replica of a service shares its one
    database, so the first replica that answers says it). Platform admins only.
    """
    identity, _ = await authorize(request, Target(OUTBOXES_RULE, "/system/outboxes"))
    if identity.role is not Role.PLATFORM_ADMIN:
        raise RoleRequiredError(Role.PLATFORM_ADMIN)
    gateway = gateway_state(request)
    found = await asyncio.gather(
        *(
            _backlog(gateway.client, replicas, gateway.settings.ready_timeout)
            for replicas in gateway.upstreams.values()
        )
    )
    services = dict(zip(gateway.upstreams, found, strict=True))
    return JSONResponse(Outboxes(services=services).model_dump())


async def _backlog(
    client: aiohttp.ClientSession, replicas: Replicas, limit: float
) -> OutboxBacklog | None:
    for base in replicas.urls:
        try:
            async with client.get(
                f"{base}/ready", timeout=aiohttp.ClientTimeout(total=limit)
            ) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            continue
        if isinstance(body, dict) and isinstance(body.get("outbox"), dict):
            return OutboxBacklog.model_validate(body["outbox"])
    return None
