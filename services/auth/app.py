"""The auth service: tenants, users, roles, sessions and API keys (see "The parts" in
docs/architecture.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from services.auth.repository import sessions as sessions_repo
from services.auth.routes import routes
from services.auth.service import signing_keys, users
from services.auth.settings import AuthSettings
from services.auth.state import AuthState
from shared.app import create_service_app
from shared.retention import Job
from shared.state import AppState


def create_app(settings: AuthSettings | None = None) -> Starlette:
    settings = settings or AuthSettings()

    @asynccontextmanager
    async def auth_lifespan(state: AppState) -> AsyncIterator[AuthState]:
        """The signing key and the platform admin, before the first request."""
        key = await signing_keys.load_signing_key(state.db, settings)
        await users.ensure_platform_admin(state.db, settings)
        yield AuthState(settings=settings, signing_key=key, pool=state.db, redis=state.redis)

    async def purge_sessions(state: AppState) -> int:
        return await sessions_repo.purge_ended(
            state.db, older_than_seconds=settings.session_retention_days * 86400
        )

    return create_service_app(
        settings,
        routes,
        title="Micro Auth",
        service_state=auth_lifespan,
        retention_jobs=[Job("sessions", purge_sessions)],
    )
