"""The app factory every Micro process is built with.

It wires, in order from the outside: request context (request id, access log, metrics,
last-resort error rendering), the internal identity check (services only), the routes, and
`/health`, `/ready`, `/metrics`, `/openapi.json`. The lifespan opens the one asyncpg pool and
the one Redis client of the process and closes them on shutdown; it refuses to start when
the pool's role is a superuser or an owner (shared/db_roles.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from shared import idempotency, outbox, tracing
from shared.db import create_pool
from shared.db_roles import check_app_role
from shared.handlers import EXCEPTION_HANDLERS
from shared.health import health, ready
from shared.idempotency import IdempotencyMiddleware
from shared.identity import InternalIdentityMiddleware
from shared.logging import configure_logging
from shared.metrics import Refresh, metrics_handler, refresh_outbox
from shared.middleware import RequestContextMiddleware
from shared.migrations import migrate_service
from shared.openapi import build_spec
from shared.outbox import outbox_relay
from shared.redis_url import connect as connect_redis
from shared.retention import Job, retention
from shared.settings import DatabaseSettings, ServiceSettings
from shared.state import STATE_KEY, AppState, ServiceLifespan

log = logging.getLogger("micro.app")

# A shared job that runs for the app's whole life (retention, the outbox relay).
Hook = Callable[[AppState], AbstractAsyncContextManager[None]]
Endpoint = Callable[[Request], Awaitable[Response]]


def create_service_app(
    settings: ServiceSettings,
    routes: Sequence[BaseRoute],
    *,
    title: str,
    require_identity: bool = True,
    service_state: ServiceLifespan | None = None,
    middleware: Sequence[Middleware] = (),
    extra_routes: Sequence[BaseRoute] = (),
    retention_jobs: Sequence[Job] = (),
    health: Endpoint = health,
    openapi: Endpoint | None = None,
    metrics: bool = True,
    metrics_refresh: Sequence[Refresh] = (),
) -> Starlette:
    """Build an app. `service_state` builds the service's own state (AppState.service) once
    the pool and Redis are open; the shared jobs (retention, the outbox relay) run inside it;
    `retention_jobs` purge the service's own expired rows beside the shared ones.

    `metrics=False`: no /metrics here (the gateway serves it on an internal listener).
    `metrics_refresh`: the service's database-read gauges, refreshed at each scrape beside
    the event outbox's (shared/metrics.py)."""
    probe_routes: list[BaseRoute] = [
        Route("/health", health, include_in_schema=False),
        Route("/ready", ready, include_in_schema=False),
    ]
    if metrics:
        refreshes = [refresh_outbox] if isinstance(settings, DatabaseSettings) else []
        endpoint = metrics_handler([*refreshes, *metrics_refresh])
        probe_routes.append(Route("/metrics", endpoint, include_in_schema=False))
    # Built on its first request, not here: an app is made for every test, and the document
    # of a service's routes takes longer to build than the rest of the app.
    spec: dict[str, Any] = {}

    async def own_spec(request: Request) -> JSONResponse:
        if not spec:
            spec.update(build_spec(title, routes, service=settings.service))
        return JSONResponse(spec)

    stack = [Middleware(RequestContextMiddleware, service=settings.service)]
    if require_identity:
        stack.append(Middleware(InternalIdentityMiddleware, keys=settings.identity_keys))
    if isinstance(settings, DatabaseSettings):
        stack.append(Middleware(IdempotencyMiddleware, body_limit=settings.max_body_bytes))
        jobs = [idempotency.RETENTION, outbox.RETENTION, *retention_jobs]
        hooks: list[Hook] = [retention(jobs), outbox_relay, idempotency.renew_leases]
    else:
        hooks = []
    stack.extend(middleware)

    app = Starlette(
        routes=[
            *probe_routes,
            Route("/openapi.json", openapi or own_spec, include_in_schema=False),
            *extra_routes,
            *routes,
        ],
        middleware=stack,
        exception_handlers=dict(EXCEPTION_HANDLERS),
        lifespan=_lifespan(settings, hooks, service_state),
    )
    # Starlette answers a path with a stray slash with a redirect to the service's own
    # address, which the gateway would hand to the client: a 404 instead, as Stripe answers.
    app.router.redirect_slashes = False
    return app


def _lifespan(
    settings: ServiceSettings, hooks: Sequence[Hook], service_state: ServiceLifespan | None
) -> Callable[[Starlette], AbstractAsyncContextManager[dict[str, Any]]]:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        configure_logging(settings.service, settings.log_level)
        provider = tracing.start(settings.service, settings.otel_endpoint)
        state = AppState(settings=settings, redis=redis_client(settings))
        try:
            if isinstance(settings, DatabaseSettings):
                if settings.migrate_on_start:
                    # As the owner, on a connection of its own: the pool is the app's role.
                    await migrate_service(
                        settings.service,
                        settings.migration_database_url,
                        app_role=settings.app_role,
                    )
                state.pool = await create_pool(
                    settings.database_url,
                    application_name=settings.service,
                    min_size=settings.pool_min_size,
                    max_size=settings.pool_max_size,
                )
                async with state.pool.acquire() as conn:
                    await check_app_role(conn, settings.service)
            async with _own_state(state, service_state), _run_hooks(state, hooks):
                log.info("started", extra={"port": settings.port})
                yield {STATE_KEY: state}
        finally:
            if state.pool is not None:
                await state.pool.close()
            await state.redis.aclose()
            await asyncio.to_thread(tracing.stop, provider)  # flushes over HTTP

    return lifespan


def redis_client(settings: ServiceSettings, *, read_timeout: float | None = None) -> aioredis.Redis:
    """Bounded timeouts and no silent retries: a Redis outage shows up at once, as an error.

    `read_timeout`: for a client whose blocking reads (XREADGROUP BLOCK) outlast the usual one.
    """
    return connect_redis(
        settings.redis_url,
        socket_timeout=read_timeout or settings.redis_timeout,
        socket_connect_timeout=settings.redis_timeout,
        retry=Retry(NoBackoff(), 0),
    )


@asynccontextmanager
async def _own_state(state: AppState, build: ServiceLifespan | None) -> AsyncIterator[None]:
    if build is None:
        yield
        return
    async with build(state) as own:
        state.service = own
        try:
            yield
        finally:
            state.service = None


@asynccontextmanager
async def _run_hooks(state: AppState, hooks: Sequence[Hook]) -> AsyncIterator[None]:
    if not hooks:
        yield
        return
    first, *rest = hooks
    async with first(state), _run_hooks(state, rest):
        yield
