"""`/health` says the process is alive; `/ready` says its dependencies answer."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from shared import outbox
from shared.openapi import documented
from shared.state import AppState, app_state


class OutboxBacklog(BaseModel):
    pending: int = Field(description="Events committed and not yet published to Redis.")
    oldest_seconds: float | None = Field(
        description="Age of the oldest of them (null when there is none)."
    )


class Readiness(BaseModel):
    status: str = Field(examples=["ready"], description="`ready`, or `unavailable` with 503.")
    service: str = Field(examples=["gateway"])
    checks: dict[str, str] = Field(examples=[{"redis": "ok"}])
    outbox: OutboxBacklog | None = Field(
        default=None,
        description="A service's outbox backlog (absent for the gateway, or when the "
        "database did not answer in time).",
    )


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
    body: dict[str, Any] = {
        "status": "ready" if ok else "unavailable",
        "service": state.settings.service,
        "checks": checks,
    }
    if ok and state.pool is not None:
        backlog = await outbox_backlog(state)
        if backlog is not None:
            body["outbox"] = backlog.model_dump()
    return JSONResponse(body, status_code=200 if ok else 503)


async def outbox_backlog(state: AppState) -> OutboxBacklog | None:
    """How far the outbox relay is behind (one index-only count over the unpublished rows:
    cheap while the relay keeps up, and telling when it does not); None if the database
    does not answer within the probe's timeout."""
    if state.pool is None:
        return None
    try:
        async with asyncio.timeout(state.settings.ready_timeout):
            pending, oldest = await outbox.backlog(state.pool)
    except Exception:  # a probe reports; the readiness checks above say what is down
        return None
    return OutboxBacklog(pending=pending, oldest_seconds=oldest)


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
