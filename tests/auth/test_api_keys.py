"""API keys: created by a tenant's admins, shown once, listed masked, revoked, rolled, and
verified for the gateway."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from shared.credentials import KEY_CACHE_PREFIX, LAST_USED_HASH, REVOKED_PREFIX, secret_hash
from tests.support.auth import (
    NOT_ADMIN_SESSIONS,
    as_session,
    gateway,
    not_an_admin_session,
    platform_admin,
    refused,
    register,
)


async def admin_of_new_tenant(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    owner = await register(client)
    return owner["tenant"]["id"], as_session(owner["access_token"])


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post("/auth/api_keys", json=body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    found: dict[str, Any] = response.json()
    return found


async def verify(client: httpx.AsyncClient, secret: str) -> httpx.Response:
    return await client.post(
        "/internal/api_keys/verify", json={"secret_hash": secret_hash(secret)}, headers=gateway()
    )


class TestCreate:
    @pytest.mark.parametrize(
        ("environment", "prefix"), [("test", "sk_test_"), ("live", "sk_live_")]
    )
    async def test_the_secret_is_shown_once_and_the_gateway_can_verify_it(
        self, auth: httpx.AsyncClient, environment: str, prefix: str
    ) -> None:
        tenant_id, admin = await admin_of_new_tenant(auth)
        key = await create(auth, admin, environment=environment, name="checkout")
        secret = key["secret"]
        assert secret.startswith(prefix)
        assert len(secret) == len(prefix) + 40
        assert key["masked"] == f"{prefix}...{secret[-4:]}"
        assert key["environment"] == environment
        assert key["livemode"] is (environment == "live")
        assert key["status"] == "active"
        assert key["name"] == "checkout"
        assert key["rolled_to"] is None
        assert key["expires_at"] is None

        verified = await verify(auth, secret)
        assert verified.status_code == 200, verified.text
        assert verified.json() == {
            "id": key["id"],
            "tenant_id": tenant_id,
            "livemode": environment == "live",
            "rate_limit": None,
            "expires_at": None,
        }

    async def test_only_a_platform_admin_sets_a_keys_rate_limit(
        self, auth: httpx.AsyncClient
    ) -> None:
        _, admin = await admin_of_new_tenant(auth)
        response = await auth.post("/auth/api_keys", json={"rate_limit": 5}, headers=admin)
        refused(response, 403, "role_required")
        key = await create(auth, await platform_admin(auth), rate_limit=5)
        assert key["rate_limit"] == 5
        assert (await verify(auth, key["secret"])).json()["rate_limit"] == 5

    async def test_a_key_takes_its_tenants_limit_when_it_has_none(
        self, auth: httpx.AsyncClient
    ) -> None:
        tenant_id, admin = await admin_of_new_tenant(auth)
        key = await create(auth, admin)
        limited = await auth.put(
            f"/tenants/{tenant_id}", json={"rate_limit": 7}, headers=await platform_admin(auth)
        )
        assert limited.status_code == 200
        assert (await verify(auth, key["secret"])).json()["rate_limit"] == 7

    @pytest.mark.parametrize("caller", NOT_ADMIN_SESSIONS)
    async def test_only_an_admin_session_may(self, auth: httpx.AsyncClient, caller: str) -> None:
        headers, code = await not_an_admin_session(auth, caller)
        refused(await auth.post("/auth/api_keys", json={}, headers=headers), 403, code)


class TestList:
    async def test_masked_with_the_last_use_gateways_wrote(
        self, auth: httpx.AsyncClient, redis: aioredis.Redis
    ) -> None:
        _, admin = await admin_of_new_tenant(auth)
        first = await create(auth, admin)
        second = await create(auth, admin)
        await redis.hset(LAST_USED_HASH, first["id"], "1700000000")
        response = await auth.get("/auth/api_keys", headers=admin)
        assert response.status_code == 200
        listed = response.json()["data"]
        assert [k["id"] for k in listed] == [second["id"], first["id"]]
        assert all("secret" not in k for k in listed)
        assert [k["last_used"] for k in listed] == [None, 1700000000]
        assert listed[1]["masked"] == first["masked"]

    async def test_another_tenants_keys_are_not_listed(self, auth: httpx.AsyncClient) -> None:
        _, admin = await admin_of_new_tenant(auth)
        await create(auth, admin)
        _, other = await admin_of_new_tenant(auth)
        assert (await auth.get("/auth/api_keys", headers=other)).json()["data"] == []


class TestRevoke:
    async def test_revoked_everywhere_at_once_and_only_once(
        self, auth: httpx.AsyncClient, redis: aioredis.Redis
    ) -> None:
        _, admin = await admin_of_new_tenant(auth)
        key = await create(auth, admin)
        response = await auth.delete(f"/auth/api_keys/{key['id']}", headers=admin)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "revoked"
        assert "secret" not in body
        hashed = secret_hash(key["secret"])
        assert await redis.get(f"{REVOKED_PREFIX}{hashed}") == "1"
        refused(await verify(auth, key["secret"]), 410, "api_key_revoked")
        again = await auth.delete(f"/auth/api_keys/{key['id']}", headers=admin)
        refused(again, 409, "api_key_revoked")

    async def test_another_tenants_key_is_404(self, auth: httpx.AsyncClient) -> None:
        _, admin = await admin_of_new_tenant(auth)
        key = await create(auth, admin)
        _, other = await admin_of_new_tenant(auth)
        response = await auth.delete(f"/auth/api_keys/{key['id']}", headers=other)
        assert refused(response, 404, "resource_missing")["param"] == "id"


class TestRoll:
    async def test_without_grace_the_old_key_stops_now(
        self, auth: httpx.AsyncClient, redis: aioredis.Redis
    ) -> None:
        _, admin = await admin_of_new_tenant(auth)
        old = await create(auth, admin, name="rolled")
        response = await auth.post(f"/auth/api_keys/{old['id']}/roll", headers=admin)
        assert response.status_code == 201, response.text
        assert response.headers["cache-control"] == "no-store"
        new = response.json()
        assert new["secret"] != old["secret"]
        assert new["name"] == "rolled"
        assert new["status"] == "active"
        assert await redis.get(f"{REVOKED_PREFIX}{secret_hash(old['secret'])}") == "1"
        refused(await verify(auth, old["secret"]), 410, "api_key_revoked")
        assert (await verify(auth, new["secret"])).status_code == 200
        listed = {
            k["id"]: k for k in (await auth.get("/auth/api_keys", headers=admin)).json()["data"]
        }
        assert listed[old["id"]]["rolled_to"] == new["id"]
        assert listed[old["id"]]["status"] == "revoked"
        refused(
            await auth.post(f"/auth/api_keys/{old['id']}/roll", headers=admin),
            409,
            "api_key_revoked",
        )

    async def test_with_grace_the_old_key_works_until_its_expiry(
        self, auth: httpx.AsyncClient, redis: aioredis.Redis
    ) -> None:
        _, admin = await admin_of_new_tenant(auth)
        old = await create(auth, admin)
        hashed = secret_hash(old["secret"])
        await redis.set(f"{KEY_CACHE_PREFIX}{hashed}", "stale")
        response = await auth.post(
            f"/auth/api_keys/{old['id']}/roll", json={"grace_period_seconds": 3600}, headers=admin
        )
        assert response.status_code == 201
        verified = await verify(auth, old["secret"])
        assert verified.status_code == 200
        assert verified.json()["expires_at"] is not None
        assert await redis.get(f"{REVOKED_PREFIX}{hashed}") is None
        assert await redis.get(f"{KEY_CACHE_PREFIX}{hashed}") is None
        listed = {
            k["id"]: k for k in (await auth.get("/auth/api_keys", headers=admin)).json()["data"]
        }
        assert listed[old["id"]]["status"] == "active"
        assert listed[old["id"]]["expires_at"] == verified.json()["expires_at"]

    async def test_an_unknown_key_is_404(self, auth: httpx.AsyncClient) -> None:
        _, admin = await admin_of_new_tenant(auth)
        refused(
            await auth.post("/auth/api_keys/key_missing/roll", headers=admin),
            404,
            "resource_missing",
        )


class TestVerify:
    async def test_an_unknown_key_is_404(self, auth: httpx.AsyncClient) -> None:
        refused(await verify(auth, "sk_test_unknown"), 404, "resource_missing")

    async def test_a_disabled_tenants_key_is_410(
        self, auth: httpx.AsyncClient, auth_db: asyncpg.Connection
    ) -> None:
        tenant_id, admin = await admin_of_new_tenant(auth)
        key = await create(auth, admin)
        # Disabled without the revocation a delete does: only the tenant's status says no.
        await auth_db.execute("UPDATE tenants SET status = 'disabled' WHERE id = $1", tenant_id)
        refused(await verify(auth, key["secret"]), 410, "tenant_disabled")

    async def test_an_expired_key_is_410(
        self, auth: httpx.AsyncClient, auth_db: asyncpg.Connection
    ) -> None:
        _, admin = await admin_of_new_tenant(auth)
        key = await create(auth, admin)
        await auth_db.execute(
            "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1", key["id"]
        )
        refused(await verify(auth, key["secret"]), 410, "api_key_expired")
        listed = (await auth.get("/auth/api_keys", headers=admin)).json()["data"]
        assert listed[0]["status"] == "expired"

    async def test_only_the_gateway_asks(self, auth: httpx.AsyncClient) -> None:
        _, admin = await admin_of_new_tenant(auth)
        response = await auth.post(
            "/internal/api_keys/verify", json={"secret_hash": "0" * 64}, headers=admin
        )
        refused(response, 403, "internal_only")
