from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.auth.schemas import User, UserCreateRequest
from services.auth.service import users
from services.auth.settings import AuthSettings
from shared.access import Role
from shared.body import parse
from shared.db import transaction
from shared.identity import identity_of
from shared.openapi import documented
from shared.pagination import list_params, list_response
from shared.responses import json_response
from shared.state import app_state


@documented(response=User, listing=True)
async def list_users(request: Request) -> JSONResponse:
    """List the users of the caller's tenant (tenant admins).

    Tenant admins see their tenant's users; newest first.
    """
    params = list_params(request)
    async with transaction(app_state(request).db) as conn:
        found, has_more = await users.list_users(conn, identity_of(request), params=params)
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
    state = app_state(request)
    settings = state.settings
    assert isinstance(settings, AuthSettings)
    async with transaction(state.db) as conn:
        user = await users.create_user(
            conn, identity_of(request), body, bcrypt_rounds=settings.bcrypt_rounds
        )
    return json_response(user.model_dump(), status=201)


@documented(response=User)
async def deactivate_user(request: Request) -> JSONResponse:
    """Deactivate a user: no more sign-ins, and its sessions stop at once.

    The user's row is kept (and shown as `is_active: false`).
    """
    state = app_state(request)
    async with transaction(state.db) as conn:
        user, revocations = await users.deactivate_user(
            conn, identity_of(request), request.path_params["user_id"]
        )
    await revocations.announce(state.redis)
    return json_response(user.model_dump())


routes = [
    Route("/auth/users", list_users, methods=["GET"]),
    Route("/auth/users", create_user, methods=["POST"]),
    Route("/auth/users/{user_id}", deactivate_user, methods=["DELETE"]),
]
