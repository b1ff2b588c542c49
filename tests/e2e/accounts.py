"""Plain factory functions for people and keys, made through the gateway as a user would."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx

from services.auth.settings import DEV_ADMIN_EMAIL
from tests.support.secrets import TEST_ADMIN_PASSWORD

PASSWORD = "correct horse battery"


@dataclass
class Account:
    email: str
    user_id: str
    tenant_id: str
    role: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def unique_email(label: str = "dev") -> str:
    return f"{label}-{secrets.token_hex(4)}@example.com"


def _account(body: dict[str, Any]) -> Account:
    user = body["user"]
    return Account(
        email=user["email"],
        user_id=user["id"],
        tenant_id=user["tenant_id"],
        role=user["role"],
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
    )


def register(client: httpx.Client, *, business_name: str | None = None) -> Account:
    payload: dict[str, Any] = {"email": unique_email("owner"), "password": PASSWORD}
    if business_name:
        payload["business_name"] = business_name
    response = client.post("/auth/register", json=payload)
    assert response.status_code == 201, response.text
    return _account(response.json())


def tenant_slug(client: httpx.Client, owner: Account) -> str:
    response = client.get(f"/tenants/{owner.tenant_id}", headers=owner.headers)
    assert response.status_code == 200, response.text
    slug: str = response.json()["slug"]
    return slug


def signup_user(client: httpx.Client, owner: Account) -> Account:
    response = client.post(
        "/auth/signup",
        json={"email": unique_email("user"), "password": PASSWORD, "tenant": owner.tenant_id},
    )
    assert response.status_code == 201, response.text
    return _account(response.json())


def login(client: httpx.Client, email: str, password: str = PASSWORD) -> Account:
    response = client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return _account(response.json())


def platform_admin(client: httpx.Client) -> Account:
    response = client.post(
        "/auth/admin", json={"email": DEV_ADMIN_EMAIL, "password": TEST_ADMIN_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return _account(response.json())


def create_key(
    client: httpx.Client, owner: Account, environment: str = "test", **extra: Any
) -> dict[str, Any]:
    response = client.post(
        "/auth/api_keys", json={"environment": environment, **extra}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def act_on_key(client: httpx.Client, caller: Account, key_id: str, action: str) -> httpx.Response:
    """Revoke (`DELETE`) or roll (`POST .../roll`, no grace period) the key `key_id` as
    `caller`; the answer, whatever it is."""
    if action == "revoke":
        return client.delete(f"/auth/api_keys/{key_id}", headers=caller.headers)
    return client.post(f"/auth/api_keys/{key_id}/roll", json={}, headers=caller.headers)


def key_headers(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def raise_rate_limit(client: httpx.Client, admin: Account, tenant_id: str, limit: int) -> None:
    """The platform admin sets the tenant's rate limit (a tenant admin may not)."""
    raised = client.put(f"/tenants/{tenant_id}", json={"rate_limit": limit}, headers=admin.headers)
    assert raised.status_code == 200, raised.text
