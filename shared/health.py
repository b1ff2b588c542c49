"""`/health` says the process is alive; `/ready` says its dependencies answer."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from shared.state import AppState, app_state


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "service": app_state(request).settings.service})


async def ready(request: Request) -> JSONResponse:
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
