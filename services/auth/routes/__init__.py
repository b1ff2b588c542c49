"""Auth HTTP routes: parse, call the service, render."""

from __future__ import annotations

from services.auth.routes import api_keys, sessions, tenants, users

routes = [*sessions.routes, *tenants.routes, *users.routes, *api_keys.routes]
