from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.auth.schemas import User, UserCreateRequest, UserFilters
from services.auth.service import users
from services.auth.state import auth_state
from shared.access import Role
from shared.body import parse, validate
from shared.identity import identity_of
from shared.openapi import documented
from shared.pagination import list_response
from shared.responses import json_response


@documented(
    response=User,
    listing=True,
    query=UserFilters,
    errors={404: "`tenant_id` names no tenant the caller reaches (`resource_missing`)"},
)
async def list_users(request: Request) -> JSONResponse:
    """List the users of the caller's tenant (tenant admins), or of `tenant_id`.

    Tenant admins see their tenant's users; newest first. Platform admins name any tenant
    with `tenant_id` (their own, the platform tenant, without it).
    """
    params = validate(UserFilters, dict(request.query_params))
    found, has_more = await users.list_users(
        auth_state(request), identity_of(request), params=params
    )
    return list_response(request, found, has_more=has_more)


@documented(
    request=UserCreateRequest,
    response=User,
    status=201,
    example={"email": "clerk@example.com", "password": "securepassword", "role": Role.USER.value},
    errors={409: "An account with this email already exists (`email_taken`)"},
)
async def create_user(request: Request) -> JSONResponse:
    """Create a user in the caller's tenant (tenant admins).

    A tenant admin adds a USER or another TENANT_ADMIN with a password they pass on.
    """
    body = await parse(request, UserCreateRequest)
    user = await users.create_user(auth_state(request), identity_of(request), body)
    return json_response(user.model_dump(), status=201)


@documented(response=User)
async def deactivate_user(request: Request) -> JSONResponse:
    """Deactivate a user: no more sign-ins, and its sessions stop at once.

    The user's row is kept (and shown as `is_active: false`).
    """
    user = await users.deactivate_user(
        auth_state(request), identity_of(request), request.path_params["user_id"]
    )
    return json_response(user.model_dump())


routes = [
    Route("/auth/users", list_users, methods=["GET"]),
    Route("/auth/users", create_user, methods=["POST"]),
    Route("/auth/users/{user_id}", deactivate_user, methods=["DELETE"]),
]
