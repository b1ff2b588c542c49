"""The auth service: tenants, users, roles, sessions and API keys (DESIGN §4)."""

from __future__ import annotations

from starlette.applications import Starlette

from services.auth.routes import routes
from services.auth.settings import AuthSettings
from services.auth.signing import auth_startup
from shared.app import create_service_app


def create_app(settings: AuthSettings | None = None) -> Starlette:
    return create_service_app(
        settings or AuthSettings(), routes, title="Micro Auth", hooks=[auth_startup]
    )
