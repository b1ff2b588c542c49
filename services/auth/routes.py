"""Auth HTTP routes: parse, call the service, render."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.auth import service
from services.auth.schemas import Tenant, User
from shared.db import transaction
from shared.identity import identity_of
from shared.openapi import documented
from shared.responses import json_response
from shared.state import app_state


@documented(response=User, tags=["auth"])
async def get_me(request: Request) -> JSONResponse:
    """Retrieve the signed-in user."""
    async with transaction(app_state(request).db) as conn:
        user = await service.get_me(conn, identity_of(request))
    return json_response(user.model_dump())


@documented(response=Tenant, tags=["tenants"])
async def get_tenant(request: Request) -> JSONResponse:
    """Retrieve a tenant: platform admins any, everyone else only their own."""
    async with transaction(app_state(request).db) as conn:
        tenant = await service.get_tenant(
            conn, identity_of(request), request.path_params["tenant_id"]
        )
    return json_response(tenant.model_dump())


routes = [
    Route("/auth/me", get_me, methods=["GET"]),
    Route("/tenants/{tenant_id}", get_tenant, methods=["GET"]),
]
