"""The auth service: tenants, users, roles, sessions and API keys (DESIGN §4)."""

from __future__ import annotations

from starlette.applications import Starlette

from services.auth.repository import sessions
from services.auth.routes import routes
from services.auth.settings import AuthSettings
from services.auth.signing import auth_startup
from shared.app import create_service_app
from shared.retention import Job
from shared.state import AppState


def create_app(settings: AuthSettings | None = None) -> Starlette:
    return create_service_app(
        settings or AuthSettings(),
        routes,
        title="Micro Auth",
        hooks=[auth_startup],
        retention_jobs=[Job("sessions", _purge_sessions)],
    )


async def _purge_sessions(state: AppState) -> int:
    settings = state.settings
    assert isinstance(settings, AuthSettings)
    return await sessions.purge_ended(
        state.db, older_than_seconds=settings.session_retention_days * 86400
    )
