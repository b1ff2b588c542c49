from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.auth.schemas import (
    LiveModeRequest,
    Tenant,
    TenantCreateRequest,
    TenantFilters,
    TenantUpdateRequest,
)
from services.auth.service import tenants
from services.auth.state import auth_state
from shared.body import parse, validate
from shared.identity import identity_of
from shared.openapi import documented
from shared.pagination import list_response
from shared.responses import json_response


@documented(response=Tenant, listing=True, query=TenantFilters)
async def list_tenants(request: Request) -> JSONResponse:
    """List every tenant (platform admins), or those matching `q`.

    Platform admins only; newest first. `q` keeps the tenants whose name or slug contains
    it, in any case.
    """
    params = validate(TenantFilters, dict(request.query_params))
    found, has_more = await tenants.list_tenants(
        auth_state(request), identity_of(request), params=params
    )
    return list_response(request, found, has_more=has_more)


@documented(
    request=TenantCreateRequest,
    response=Tenant,
    status=201,
    example={"name": "Acme Ltd", "slug": "acme", "webhook_url": "https://acme.example/hooks"},
    errors={409: "The slug is taken (`slug_taken`)"},
)
async def create_tenant(request: Request) -> JSONResponse:
    """Create a tenant (platform admins).

    The slug defaults to one made from the name. Tenant admins make their tenant with
    `/auth/register` instead.
    """
    body = await parse(request, TenantCreateRequest)
    tenant = await tenants.create_tenant(auth_state(request), identity_of(request), body)
    return json_response(tenant.model_dump(), status=201)


@documented(response=Tenant)
async def get_tenant(request: Request) -> JSONResponse:
    """Retrieve a tenant.

    A tenant's admins and users see their own tenant; platform admins see any.
    """
    tenant = await tenants.get_tenant(
        auth_state(request), identity_of(request), request.path_params["tenant_id"]
    )
    return json_response(tenant.model_dump())


@documented(response=Tenant)
async def get_tenant_by_slug(request: Request) -> JSONResponse:
    """Retrieve a tenant by its slug.

    The same as by id, found by the slug `/auth/signup` takes.
    """
    tenant = await tenants.get_tenant_by_slug(
        auth_state(request), identity_of(request), request.path_params["slug"]
    )
    return json_response(tenant.model_dump())


@documented(
    request=TenantUpdateRequest,
    response=Tenant,
    example={"name": "Acme Group", "webhook_url": "https://acme.example/hooks"},
)
async def update_tenant(request: Request) -> JSONResponse:
    """Update a tenant's name, webhook URL or (platform admins) rate limit.

    Only the fields sent change. `rate_limit` (requests per minute for the tenant's keys) is
    for platform admins.
    """
    body = await parse(request, TenantUpdateRequest)
    tenant = await tenants.update_tenant(
        auth_state(request), identity_of(request), request.path_params["tenant_id"], body
    )
    return json_response(tenant.model_dump())


@documented(response=Tenant)
async def delete_tenant(request: Request) -> JSONResponse:
    """Disable a tenant, its users, sessions and API keys (platform admins).

    Nothing is erased: the tenant is marked disabled and its credentials stop working at
    once.
    """
    tenant = await tenants.delete_tenant(
        auth_state(request), identity_of(request), request.path_params["tenant_id"]
    )
    return json_response(tenant.model_dump())


@documented(response=Tenant, tags=["tenants"])
async def request_live_mode(request: Request) -> JSONResponse:
    """Ask for live mode (the tenant's admins); a platform admin then turns it on."""
    tenant = await tenants.request_live_mode(
        auth_state(request), identity_of(request), request.path_params["tenant_id"]
    )
    return json_response(tenant.model_dump())


@documented(request=LiveModeRequest, response=Tenant, tags=["tenants"])
async def set_live_mode(request: Request) -> JSONResponse:
    """Turn a tenant's live mode on or off (platform admins)."""
    body = await parse(request, LiveModeRequest)
    tenant = await tenants.set_live_mode(
        auth_state(request), identity_of(request), request.path_params["tenant_id"], body
    )
    return json_response(tenant.model_dump())


async def tenant_state(request: Request) -> JSONResponse:
    """Internal: the gateway asks whether a tenant may act in live mode."""
    found = await tenants.tenant_state(
        auth_state(request), identity_of(request), request.path_params["tenant_id"]
    )
    return json_response({"id": found.id, "status": found.status, "live_mode": found.live_mode})


routes = [
    Route("/tenants", list_tenants, methods=["GET"]),
    Route("/tenants", create_tenant, methods=["POST"]),
    Route("/tenants/slug/{slug}", get_tenant_by_slug, methods=["GET"]),
    Route("/tenants/{tenant_id}", get_tenant, methods=["GET"]),
    Route("/tenants/{tenant_id}", update_tenant, methods=["PUT", "POST"]),
    Route("/tenants/{tenant_id}", delete_tenant, methods=["DELETE"]),
    Route("/auth/tenants/{tenant_id}/live_mode/request", request_live_mode, methods=["POST"]),
    Route("/auth/tenants/{tenant_id}/live_mode", set_live_mode, methods=["POST"]),
    Route("/internal/tenants/{tenant_id}", tenant_state, methods=["GET"]),
]
