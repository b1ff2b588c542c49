"""The auth service in-process, called as the gateway calls it: each request carries the
identity the gateway would mint for its caller (anonymous, a signed-in user, an API key,
the gateway itself)."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import jwt

from services.auth.settings import DEV_ADMIN_EMAIL
from shared.access import Role
from shared.identity import Identity, PrincipalType, mint
from tests.support.secrets import TEST_ADMIN_PASSWORD, TEST_IDENTITY_KEY

PASSWORD = "correct horse battery"


def headers(
    principal: str,
    principal_type: PrincipalType,
    *,
    tenant_id: str | None = None,
    role: Role | None = None,
    session_id: str | None = None,
) -> dict[str, str]:
    identity = Identity(
        principal=principal,
        principal_type=principal_type,
        tenant_id=tenant_id,
        role=role,
        session_id=session_id,
    )
    return {"X-Micro-Identity": mint(identity, TEST_IDENTITY_KEY)}


def anonymous() -> dict[str, str]:
    """A caller with no credential (register, login, refresh go through as this)."""
    return headers("anonymous", "anonymous")


def gateway() -> dict[str, str]:
    """The gateway itself, on the internal endpoints."""
    return headers("gateway", "service")


def as_session(access_token: str) -> dict[str, str]:
    """What the gateway sends for the bearer of this access token (it verified it)."""
    claims = jwt.decode(access_token, options={"verify_signature": False})
    return headers(
        claims["sub"],
        "user",
        tenant_id=claims["tid"],
        role=Role(claims["role"]),
        session_id=claims["sid"],
    )


def as_key(key_id: str, tenant_id: str) -> dict[str, str]:
    return headers(key_id, "api_key", tenant_id=tenant_id)


def unique_email(prefix: str = "dev") -> str:
    return f"{prefix}-{secrets.token_hex(4)}@example.com"


async def register(
    client: httpx.AsyncClient, email: str | None = None, **fields: Any
) -> dict[str, Any]:
    """A new tenant and its TENANT_ADMIN; the answer of /auth/register."""
    body = {"email": email or unique_email(), "password": PASSWORD, **fields}
    response = await client.post("/auth/register", json=body, headers=anonymous())
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()
    return found


async def signup(
    client: httpx.AsyncClient, tenant: str, email: str | None = None
) -> dict[str, Any]:
    """A USER of `tenant` (slug or id); the answer of /auth/signup."""
    body = {"email": email or unique_email("user"), "password": PASSWORD, "tenant": tenant}
    response = await client.post("/auth/signup", json=body, headers=anonymous())
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()
    return found


async def platform_admin(client: httpx.AsyncClient) -> dict[str, str]:
    """Signed in as the platform admin the service ensured at start-up."""
    response = await client.post(
        "/auth/admin",
        json={"email": DEV_ADMIN_EMAIL, "password": TEST_ADMIN_PASSWORD},
        headers=anonymous(),
    )
    assert response.status_code == 200, response.text
    return as_session(response.json()["access_token"])


# Who is refused where only an admin's session may act: the tenant's USER (its role is too
# low) and an API key of the tenant (not a session at all); each with the code it gets.
NOT_ADMIN_SESSIONS = ["user", "api_key"]


async def not_an_admin_session(
    client: httpx.AsyncClient, caller: str
) -> tuple[dict[str, str], str]:
    """One of NOT_ADMIN_SESSIONS, of a new tenant: its headers, and the code of its 403."""
    owner = await register(client)
    tenant_id: str = owner["tenant"]["id"]
    if caller == "user":
        user = await signup(client, tenant_id)
        return as_session(user["access_token"]), "role_required"
    return as_key("key_x", tenant_id), "session_required"


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The shared error shape with this status and code; the error object."""
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error
