from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.auth.schemas import (
    LoginRequest,
    LoginResponse,
    RefreshRequest,
    RegisterRequest,
    RegisterResponse,
    SignupRequest,
    User,
)
from services.auth.service import sessions, signing_keys
from services.auth.state import auth_state
from shared.body import parse
from shared.identity import identity_of
from shared.openapi import documented
from shared.responses import json_response


class LoggedOut(BaseModel):
    object: Literal["session"] = "session"
    revoked: Literal[True] = True


class Jwks(BaseModel):
    """A JSON Web Key Set (RFC 7517): the Ed25519/RSA public keys of the signing keys."""

    keys: list[dict[str, Any]] = Field(
        examples=[[{"kty": "OKP", "crv": "Ed25519", "kid": "key_1", "x": "11qYAYKxCrfVS_7T"}]]
    )


@documented(
    request=RegisterRequest,
    response=RegisterResponse,
    status=201,
    example={"email": "dev@example.com", "password": "securepassword"},
    errors={409: "An account with this email already exists (`email_taken`)"},
)
async def register(request: Request) -> JSONResponse:
    """Create a tenant and its admin, and sign in.

    The caller becomes the TENANT_ADMIN of a new tenant (named by `business_name`, or after
    the email). The answer holds the session tokens, the user and the tenant; create an API
    key next with `POST /auth/api_keys`.
    """
    body = await parse(request, RegisterRequest)
    result = await sessions.register(
        auth_state(request),
        email=body.email,
        password=body.password,
        business_name=body.business_name,
    )
    return json_response(result.model_dump(), status=201)


@documented(
    request=SignupRequest,
    response=LoginResponse,
    status=201,
    example={"email": "user@example.com", "password": "securepassword", "tenant": "acme"},
    errors={
        404: "No active tenant has this slug or id",
        409: "An account with this email already exists (`email_taken`)",
    },
)
async def signup(request: Request) -> JSONResponse:
    """Create a USER of an existing tenant, and sign in.

    `tenant` is the tenant's slug or id. The new user's role is USER: it may use its own
    wallets with its access token, nothing else.
    """
    body = await parse(request, SignupRequest)
    result = await sessions.signup(
        auth_state(request), email=body.email, password=body.password, tenant_ref=body.tenant
    )
    return json_response(result.model_dump(), status=201)


async def _login(request: Request, *, platform: bool) -> JSONResponse:
    body = await parse(request, LoginRequest)
    result = await sessions.login(
        auth_state(request), email=body.email, password=body.password, platform=platform
    )
    return json_response(result.model_dump())


@documented(
    request=LoginRequest,
    response=LoginResponse,
    example={"email": "dev@example.com", "password": "securepassword"},
    errors={401: "Wrong email or password (`invalid_credentials`)"},
)
async def login(request: Request) -> JSONResponse:
    """Sign in as a tenant user (tenant admins included).

    Answers an access token (short-lived, `expires_in` seconds) and a refresh token. Send
    the access token as `Authorization: Bearer ...`.
    """
    return await _login(request, platform=False)


@documented(
    request=LoginRequest,
    response=LoginResponse,
    example={"email": "admin@example.com", "password": "securepassword"},
    errors={
        401: "Wrong email or password",
        403: "The account is not a platform admin (it signs in at /auth/login)",
    },
)
async def admin_login(request: Request) -> JSONResponse:
    """Sign in as a platform admin.

    The same as `/auth/login`, for PLATFORM_ADMIN accounts only; a tenant user is refused
    with 401.
    """
    return await _login(request, platform=True)


@documented(
    request=RefreshRequest,
    response=LoginResponse,
    errors={401: "The refresh token is unknown, used, expired or revoked"},
)
async def refresh(request: Request) -> JSONResponse:
    """Trade a refresh token for a new access token and a new refresh token.

    Each refresh token works once: a reused one ends the whole session (it was stolen or
    replayed).
    """
    body = await parse(request, RefreshRequest)
    result = await sessions.refresh(auth_state(request), token=body.refresh_token)
    return json_response(result.model_dump())


@documented(response=LoggedOut)
async def logout(request: Request) -> JSONResponse:
    """End the current session: its access and refresh tokens stop working.

    Every gateway refuses the session's tokens within a second.
    """
    await sessions.logout(auth_state(request), identity_of(request))
    return json_response({"object": "session", "revoked": True})


@documented(response=User)
async def me(request: Request) -> JSONResponse:
    """The signed-in user.

    The user the access token belongs to, with its tenant and role.
    """
    user = await sessions.me(auth_state(request), identity_of(request))
    return json_response(user.model_dump())


@documented(response=Jwks)
async def jwks(request: Request) -> JSONResponse:
    """The public keys that verify access tokens.

    A JSON Web Key Set; cache it as `Cache-Control` says. Access tokens name their key in
    `kid`.
    """
    keys = await signing_keys.public_jwks(auth_state(request))
    return json_response({"keys": list(keys)}, headers={"Cache-Control": "max-age=300"})


routes = [
    Route("/auth/register", register, methods=["POST"]),
    Route("/auth/signup", signup, methods=["POST"]),
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/admin", admin_login, methods=["POST"]),
    Route("/auth/refresh", refresh, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
    Route("/auth/me", me, methods=["GET"]),
    Route("/auth/.well-known/jwks.json", jwks, methods=["GET"]),
]
