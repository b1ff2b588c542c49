"""Sign-in and sessions: register, signup, login (both doors), refresh, logout, me."""

from __future__ import annotations

import httpx
import jwt
import pytest
import redis.asyncio as aioredis

from services.auth.settings import DEV_ADMIN_EMAIL
from shared.credentials import JWT_AUDIENCE, REVOKED_PREFIX
from tests.support.auth import (
    PASSWORD,
    anonymous,
    as_key,
    as_session,
    platform_admin,
    refused,
    register,
    signup,
    unique_email,
)
from tests.support.secrets import TEST_ADMIN_PASSWORD


async def login(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, *, door: str = "login"
) -> httpx.Response:
    return await client.post(
        f"/auth/{door}", json={"email": email, "password": password}, headers=anonymous()
    )


async def public_keys(client: httpx.AsyncClient) -> dict[str, jwt.PyJWK]:
    response = await client.get("/auth/.well-known/jwks.json", headers=anonymous())
    assert response.status_code == 200
    assert response.headers["cache-control"] == "max-age=300"
    return {k["kid"]: jwt.PyJWK(k) for k in response.json()["keys"]}


class TestRegister:
    async def test_a_tenant_and_its_admin_signed_in_with_a_token_the_jwks_verifies(
        self, auth: httpx.AsyncClient
    ) -> None:
        email = unique_email()
        body = await register(auth, f"  {email.upper()} ", business_name="Acme Ltd")
        user, tenant = body["user"], body["tenant"]
        assert user["email"] == email
        assert user["role"] == "TENANT_ADMIN"
        assert user["tenant_id"] == tenant["id"]
        assert user["is_active"] is True
        assert tenant["name"] == "Acme Ltd"
        assert tenant["slug"] == "acme-ltd"
        assert tenant["status"] == "active"
        assert tenant["live_mode"] == "off"
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 900
        assert body["refresh_token"].startswith("rt_")

        token = body["access_token"]
        kid = jwt.get_unverified_header(token)["kid"]
        key = (await public_keys(auth))[kid]
        claims = jwt.decode(token, key, algorithms=["EdDSA"], audience=JWT_AUDIENCE)
        assert claims["sub"] == user["id"]
        assert claims["tid"] == tenant["id"]
        assert claims["role"] == "TENANT_ADMIN"
        assert claims["sid"].startswith("ses_")
        assert claims["exp"] - claims["iat"] == 900

    async def test_the_tenant_is_named_after_the_email_and_a_taken_slug_gets_a_suffix(
        self, auth: httpx.AsyncClient
    ) -> None:
        first = await register(auth, "same-name@example.com")
        second = await register(auth, "same-name@example.org")
        assert first["tenant"]["name"] == "same-name"
        assert first["tenant"]["slug"] == "same-name"
        assert second["tenant"]["slug"].startswith("same-name-")
        assert len(second["tenant"]["slug"]) == len("same-name-") + 6

    async def test_a_taken_email_is_409_and_creates_no_tenant(
        self, auth: httpx.AsyncClient
    ) -> None:
        email = unique_email()
        await register(auth, email)
        response = await auth.post(
            "/auth/register",
            json={"email": email, "password": PASSWORD, "business_name": "Second"},
            headers=anonymous(),
        )
        assert refused(response, 409, "email_taken")["param"] == "email"
        admin = await platform_admin(auth)
        listed = (await auth.get("/tenants", headers=admin)).json()["data"]
        assert "Second" not in {t["name"] for t in listed}


class TestSignup:
    @pytest.mark.parametrize("by", ["slug", "id"])
    async def test_a_user_of_an_existing_tenant_by_slug_or_id(
        self, auth: httpx.AsyncClient, by: str
    ) -> None:
        tenant = (await register(auth))["tenant"]
        body = await signup(auth, tenant[by])
        assert body["user"]["role"] == "USER"
        assert body["user"]["tenant_id"] == tenant["id"]
        assert "tenant" not in body

    async def test_tenant_id_is_accepted_as_the_field_name(self, auth: httpx.AsyncClient) -> None:
        tenant = (await register(auth))["tenant"]
        response = await auth.post(
            "/auth/signup",
            json={"email": unique_email(), "password": PASSWORD, "tenant_id": tenant["id"]},
            headers=anonymous(),
        )
        assert response.status_code == 201, response.text

    @pytest.mark.parametrize("tenant", ["no-such-tenant", "ten_nosuchtenant000000000", "platform"])
    async def test_an_unknown_tenant_and_the_platform_tenant_are_404(
        self, auth: httpx.AsyncClient, tenant: str
    ) -> None:
        response = await auth.post(
            "/auth/signup",
            json={"email": unique_email(), "password": PASSWORD, "tenant": tenant},
            headers=anonymous(),
        )
        assert refused(response, 404, "resource_missing")["param"] == "tenant"

    async def test_a_disabled_tenant_is_404(self, auth: httpx.AsyncClient) -> None:
        tenant = (await register(auth))["tenant"]
        admin = await platform_admin(auth)
        assert (await auth.delete(f"/tenants/{tenant['id']}", headers=admin)).status_code == 200
        response = await auth.post(
            "/auth/signup",
            json={"email": unique_email(), "password": PASSWORD, "tenant": tenant["slug"]},
            headers=anonymous(),
        )
        refused(response, 404, "resource_missing")

    async def test_a_taken_email_is_409(self, auth: httpx.AsyncClient) -> None:
        owner = await register(auth)
        response = await auth.post(
            "/auth/signup",
            json={
                "email": owner["user"]["email"],
                "password": PASSWORD,
                "tenant": owner["tenant"]["slug"],
            },
            headers=anonymous(),
        )
        refused(response, 409, "email_taken")


class TestLogin:
    async def test_a_tenant_user_signs_in_with_its_password(self, auth: httpx.AsyncClient) -> None:
        owner = await register(auth)
        response = await login(auth, owner["user"]["email"].upper())
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["user"] == owner["user"]
        assert as_session(body["access_token"]) != as_session(owner["access_token"])

    @pytest.mark.parametrize("known", [True, False])
    async def test_a_wrong_password_or_an_unknown_email_is_the_same_401(
        self, auth: httpx.AsyncClient, known: bool
    ) -> None:
        email = (await register(auth))["user"]["email"] if known else unique_email()
        error = refused(await login(auth, email, "wrong password"), 401, "invalid_credentials")
        assert error["message"] == "Invalid email or password."

    async def test_a_deactivated_user_is_told_so_only_with_the_right_password(
        self, auth: httpx.AsyncClient
    ) -> None:
        owner = await register(auth)
        user = await signup(auth, owner["tenant"]["slug"])
        deleted = await auth.delete(
            f"/auth/users/{user['user']['id']}", headers=as_session(owner["access_token"])
        )
        assert deleted.status_code == 200
        email = user["user"]["email"]
        refused(await login(auth, email, "wrong password"), 401, "invalid_credentials")
        refused(await login(auth, email), 401, "account_disabled")

    async def test_the_platform_admin_signs_in_at_its_own_door_only(
        self, auth: httpx.AsyncClient
    ) -> None:
        admin = await login(auth, DEV_ADMIN_EMAIL, TEST_ADMIN_PASSWORD, door="admin")
        assert admin.status_code == 200, admin.text
        assert admin.json()["user"]["role"] == "PLATFORM_ADMIN"
        refused(await login(auth, DEV_ADMIN_EMAIL, TEST_ADMIN_PASSWORD), 403, "use_admin_login")

    async def test_a_tenant_user_at_the_admin_door_is_403(self, auth: httpx.AsyncClient) -> None:
        email = (await register(auth))["user"]["email"]
        refused(await login(auth, email, door="admin"), 403, "not_platform_admin")


class TestRefresh:
    async def refresh(self, client: httpx.AsyncClient, token: str) -> httpx.Response:
        return await client.post(
            "/auth/refresh", json={"refresh_token": token}, headers=anonymous()
        )

    async def test_a_refresh_token_trades_once_for_new_tokens_of_the_same_session(
        self, auth: httpx.AsyncClient
    ) -> None:
        owner = await register(auth)
        response = await self.refresh(auth, owner["refresh_token"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["refresh_token"] != owner["refresh_token"]
        assert body["user"] == owner["user"]
        old = jwt.decode(owner["access_token"], options={"verify_signature": False})
        new = jwt.decode(body["access_token"], options={"verify_signature": False})
        assert new["sid"] == old["sid"]
        again = await self.refresh(auth, body["refresh_token"])
        assert again.status_code == 200, again.text

    async def test_a_reused_token_revokes_the_session_for_everyone(
        self, auth: httpx.AsyncClient, redis: aioredis.Redis
    ) -> None:
        owner = await register(auth)
        session_id = jwt.decode(owner["access_token"], options={"verify_signature": False})["sid"]
        newer = (await self.refresh(auth, owner["refresh_token"])).json()["refresh_token"]

        reused = await self.refresh(auth, owner["refresh_token"])
        refused(reused, 401, "refresh_token_reused")
        # The revocation committed although the answer is a refusal.
        refused(await self.refresh(auth, newer), 401, "invalid_refresh_token")
        assert await redis.get(f"{REVOKED_PREFIX}{session_id}") == "1"
        refused(await self.refresh(auth, owner["refresh_token"]), 401, "refresh_token_reused")

    async def test_an_unknown_token_is_401(self, auth: httpx.AsyncClient) -> None:
        refused(await self.refresh(auth, "rt_unknown"), 401, "invalid_refresh_token")

    async def test_a_deactivated_users_token_no_longer_refreshes(
        self, auth: httpx.AsyncClient
    ) -> None:
        owner = await register(auth)
        user = await signup(auth, owner["tenant"]["id"])
        await auth.delete(
            f"/auth/users/{user['user']['id']}", headers=as_session(owner["access_token"])
        )
        refused(await self.refresh(auth, user["refresh_token"]), 401, "invalid_refresh_token")


class TestLogout:
    async def test_the_session_ends_its_refresh_token_stops_and_gateways_are_told(
        self, auth: httpx.AsyncClient, redis: aioredis.Redis
    ) -> None:
        owner = await register(auth)
        session = as_session(owner["access_token"])
        response = await auth.post("/auth/logout", headers=session)
        assert response.status_code == 200, response.text
        assert response.json() == {"object": "session", "revoked": True}
        session_id = jwt.decode(owner["access_token"], options={"verify_signature": False})["sid"]
        assert await redis.get(f"{REVOKED_PREFIX}{session_id}") == "1"
        refused(
            await auth.post(
                "/auth/refresh", json={"refresh_token": owner["refresh_token"]}, headers=anonymous()
            ),
            401,
            "invalid_refresh_token",
        )
        again = await auth.post("/auth/logout", headers=session)
        assert again.status_code == 200

    async def test_an_api_key_has_no_session_to_end(self, auth: httpx.AsyncClient) -> None:
        refused(
            await auth.post("/auth/logout", headers=as_key("key_x", "ten_x")),
            403,
            "session_required",
        )


class TestMe:
    async def test_the_signed_in_user(self, auth: httpx.AsyncClient) -> None:
        owner = await register(auth)
        response = await auth.get("/auth/me", headers=as_session(owner["access_token"]))
        assert response.status_code == 200
        assert response.json() == owner["user"]

    @pytest.mark.parametrize("caller", ["anonymous", "api_key"])
    async def test_without_a_session_it_is_403(self, auth: httpx.AsyncClient, caller: str) -> None:
        headers = anonymous() if caller == "anonymous" else as_key("key_x", "ten_x")
        refused(await auth.get("/auth/me", headers=headers), 403, "session_required")

    async def test_a_deactivated_user_is_404(self, auth: httpx.AsyncClient) -> None:
        owner = await register(auth)
        user = await signup(auth, owner["tenant"]["id"])
        await auth.delete(
            f"/auth/users/{user['user']['id']}", headers=as_session(owner["access_token"])
        )
        response = await auth.get("/auth/me", headers=as_session(user["access_token"]))
        refused(response, 404, "resource_missing")
