"""`/health` says the process is alive; `/ready` says its dependencies answer."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from shared.openapi import documented
from shared.state import AppState, app_state


class Readiness(BaseModel):
    status: str = Field(examples=["ready"], description="`ready`, or `unavailable` with 503.")
    service: str = Field(examples=["gateway"])
    checks: dict[str, str] = Field(examples=[{"redis": "ok"}])


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "service": app_state(request).settings.service})


@documented(
    response=Readiness,
    errors={503: "A dependency (Redis, the database) does not answer"},
    operation_id="ready",
)
async def ready(request: Request) -> JSONResponse:
    """Whether this process's own dependencies answer (a readiness probe).

    200 when Redis (and the database, for a service) answer within the probe timeout, else
    503 with each check's result.
    """
    state = app_state(request)
    checks = await readiness_checks(state)
    ok = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {
            "status": "ready" if ok else "unavailable",
            "service": state.settings.service,
            "checks": checks,
        },
        status_code=200 if ok else 503,
    )


async def readiness_checks(state: AppState) -> dict[str, str]:
    timeout = state.settings.ready_timeout
    checks: dict[str, Any] = {}
    probes: dict[str, Any] = {"redis": state.redis.ping()}
    if state.pool is not None:
        probes["database"] = state.pool.fetchval("SELECT 1")
    results = await asyncio.gather(
        *(_probe(coro, timeout) for coro in probes.values()), return_exceptions=False
    )
    for name, result in zip(probes, results, strict=True):
        checks[name] = result
    return checks


async def _probe(awaitable: Any, limit: float) -> str:
    try:
        async with asyncio.timeout(limit):
            await awaitable
    except TimeoutError:
        return f"timed out after {limit}s"
    except Exception as exc:  # any failure of a dependency means "not ready", with its reason
        return f"down: {exc.__class__.__name__}: {exc}"
    return "ok"
