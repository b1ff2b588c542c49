"""Users of a tenant, managed by its admins."""

from __future__ import annotations

import httpx
import jwt
import pytest
import redis.asyncio as aioredis

from shared.credentials import REVOKED_PREFIX
from tests.support.auth import (
    NOT_ADMIN_SESSIONS,
    PASSWORD,
    anonymous,
    as_session,
    not_an_admin_session,
    platform_admin,
    refused,
    register,
    signup,
    unique_email,
)


class TestCreate:
    @pytest.mark.parametrize("role", ["USER", "TENANT_ADMIN"])
    async def test_an_admin_adds_a_user_who_then_signs_in(
        self, auth: httpx.AsyncClient, role: str
    ) -> None:
        owner = await register(auth)
        email = unique_email("clerk")
        response = await auth.post(
            "/auth/users",
            json={"email": email, "password": PASSWORD, "role": role},
            headers=as_session(owner["access_token"]),
        )
        assert response.status_code == 201, response.text
        user = response.json()
        assert user["role"] == role
        assert user["tenant_id"] == owner["tenant"]["id"]
        assert user["object"] == "user"
        login = await auth.post(
            "/auth/login", json={"email": email, "password": PASSWORD}, headers=anonymous()
        )
        assert login.json()["user"] == user

    async def test_a_taken_email_is_409(self, auth: httpx.AsyncClient) -> None:
        owner = await register(auth)
        other = await register(auth)
        response = await auth.post(
            "/auth/users",
            json={"email": other["user"]["email"], "password": PASSWORD},
            headers=as_session(owner["access_token"]),
        )
        refused(response, 409, "email_taken")

    @pytest.mark.parametrize("caller", NOT_ADMIN_SESSIONS)
    async def test_only_an_admin_session_may(self, auth: httpx.AsyncClient, caller: str) -> None:
        headers, code = await not_an_admin_session(auth, caller)
        response = await auth.post(
            "/auth/users", json={"email": unique_email(), "password": PASSWORD}, headers=headers
        )
        refused(response, 403, code)


class TestList:
    async def test_the_tenants_own_users_newest_first(self, auth: httpx.AsyncClient) -> None:
        owner = await register(auth)
        await register(auth)  # another tenant's admin, never listed
        user = await signup(auth, owner["tenant"]["id"])
        response = await auth.get("/auth/users", headers=as_session(owner["access_token"]))
        assert response.status_code == 200
        assert [u["id"] for u in response.json()["data"]] == [
            user["user"]["id"],
            owner["user"]["id"],
        ]

    async def test_the_platform_admin_lists_the_platform_tenant(
        self, auth: httpx.AsyncClient
    ) -> None:
        await register(auth)
        response = await auth.get("/auth/users", headers=await platform_admin(auth))
        assert [u["role"] for u in response.json()["data"]] == ["PLATFORM_ADMIN"]

    async def test_the_platform_admin_lists_any_tenants_users(
        self, auth: httpx.AsyncClient
    ) -> None:
        owner = await register(auth)
        user = await signup(auth, owner["tenant"]["id"])
        response = await auth.get(
            "/auth/users",
            params={"tenant_id": owner["tenant"]["id"]},
            headers=await platform_admin(auth),
        )
        assert response.status_code == 200, response.text
        assert [u["id"] for u in response.json()["data"]] == [
            user["user"]["id"],
            owner["user"]["id"],
        ]

    async def test_a_tenant_admin_names_only_its_own_tenant(self, auth: httpx.AsyncClient) -> None:
        owner = await register(auth)
        other = await register(auth)
        headers = as_session(owner["access_token"])
        own = await auth.get(
            "/auth/users", params={"tenant_id": owner["tenant"]["id"]}, headers=headers
        )
        assert [u["id"] for u in own.json()["data"]] == [owner["user"]["id"]]
        refused(
            await auth.get(
                "/auth/users", params={"tenant_id": other["tenant"]["id"]}, headers=headers
            ),
            404,
            "resource_missing",
        )


class TestDeactivate:
    async def test_the_user_is_kept_inactive_and_its_sessions_end(
        self, auth: httpx.AsyncClient, redis: aioredis.Redis
    ) -> None:
        owner = await register(auth)
        user = await signup(auth, owner["tenant"]["id"])
        response = await auth.delete(
            f"/auth/users/{user['user']['id']}", headers=as_session(owner["access_token"])
        )
        assert response.status_code == 200, response.text
        assert response.json() == {**user["user"], "is_active": False}
        session_id = jwt.decode(user["access_token"], options={"verify_signature": False})["sid"]
        assert await redis.get(f"{REVOKED_PREFIX}{session_id}") == "1"

    async def test_oneself_is_409(self, auth: httpx.AsyncClient) -> None:
        owner = await register(auth)
        response = await auth.delete(
            f"/auth/users/{owner['user']['id']}", headers=as_session(owner["access_token"])
        )
        refused(response, 409, "cannot_deactivate_self")

    @pytest.mark.parametrize("whose", ["another tenant's", "unknown"])
    async def test_a_user_outside_the_tenant_is_404(
        self, auth: httpx.AsyncClient, whose: str
    ) -> None:
        owner = await register(auth)
        other = await register(auth)
        user_id = other["user"]["id"] if whose == "another tenant's" else "usr_missing"
        response = await auth.delete(
            f"/auth/users/{user_id}", headers=as_session(owner["access_token"])
        )
        assert refused(response, 404, "resource_missing")["param"] == "id"
