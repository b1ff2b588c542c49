"""Auth HTTP routes: parse, call the service, render."""

from __future__ import annotations

from services.auth.routes.accounts import routes as account_routes
from services.auth.routes.keys import routes as key_routes
from services.auth.routes.tenants import routes as tenant_routes
from services.auth.routes.users import routes as user_routes

routes = [*account_routes, *tenant_routes, *user_routes, *key_routes]
