"""Tenants: platform admins manage all; a tenant's admin reads and updates its own; the
gateway asks for a tenant's state; live mode is asked for, then turned on or off."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from shared.credentials import TENANT_CACHE_PREFIX, secret_hash
from tests.support.auth import (
    as_key,
    as_session,
    gateway,
    platform_admin,
    refused,
    register,
    signup,
)


async def owner_and_user(
    client: httpx.AsyncClient,
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """A tenant, its admin's headers and a USER's headers."""
    owner = await register(client)
    user = await signup(client, owner["tenant"]["id"])
    return owner["tenant"], as_session(owner["access_token"]), as_session(user["access_token"])


async def cached_state(redis: aioredis.Redis, tenant_id: str) -> dict[str, Any]:
    """The tenant's state as auth wrote it for gateways."""
    cached = await redis.get(f"{TENANT_CACHE_PREFIX}{tenant_id}")
    assert cached is not None
    found: dict[str, Any] = json.loads(cached)
    return found


class TestCreateAndList:
    async def test_a_platform_admin_creates_tenants_and_lists_them_newest_first(
        self, auth: httpx.AsyncClient
    ) -> None:
        admin = await platform_admin(auth)
        created = []
        for name in ("First Co", "Second Co"):
            response = await auth.post(
                "/tenants",
                json={"name": name, "webhook_url": "https://hooks.example/x", "rate_limit": 50},
                headers=admin,
            )
            assert response.status_code == 201, response.text
            created.append(response.json())
        assert created[0]["slug"] == "first-co"
        assert created[0]["webhook_url"] == "https://hooks.example/x"
        assert created[0]["rate_limit"] == 50
        assert created[0]["object"] == "tenant"

        page = await auth.get("/tenants", params={"limit": 2}, headers=admin)
        assert page.status_code == 200
        body = page.json()
        assert [t["id"] for t in body["data"]] == [created[1]["id"], created[0]["id"]]
        assert body["has_more"] is True

    async def test_q_finds_tenants_by_name_or_slug_in_any_case(
        self, auth: httpx.AsyncClient
    ) -> None:
        admin = await platform_admin(auth)
        made = {}
        for name, slug in (("Zebra Foods", "zf-1"), ("Other 100%", "zebra-two"), ("Plain", "p-1")):
            response = await auth.post("/tenants", json={"name": name, "slug": slug}, headers=admin)
            made[slug] = response.json()["id"]

        async def found(q: str) -> list[str]:
            response = await auth.get("/tenants", params={"q": q, "limit": 100}, headers=admin)
            assert response.status_code == 200, response.text
            return [t["id"] for t in response.json()["data"]]

        assert await found("ZEBRA") == [made["zebra-two"], made["zf-1"]]
        assert await found("100%") == [made["zebra-two"]]
        assert await found("_") == []  # a plain character, not a wildcard
        bad = await auth.get("/tenants", params={"q": ""}, headers=admin)
        assert bad.status_code == 400, bad.text

    async def test_a_taken_slug_is_409(self, auth: httpx.AsyncClient) -> None:
        admin = await platform_admin(auth)
        first = await auth.post("/tenants", json={"name": "A", "slug": "taken"}, headers=admin)
        assert first.status_code == 201
        again = await auth.post("/tenants", json={"name": "B", "slug": "taken"}, headers=admin)
        assert refused(again, 409, "slug_taken")["param"] == "slug"

    @pytest.mark.parametrize("who", ["owner", "user"])
    async def test_others_may_neither_create_nor_list(
        self, auth: httpx.AsyncClient, who: str
    ) -> None:
        _, owner, user = await owner_and_user(auth)
        headers = owner if who == "owner" else user
        refused(
            await auth.post("/tenants", json={"name": "X"}, headers=headers), 403, "role_required"
        )
        refused(await auth.get("/tenants", headers=headers), 403, "role_required")

    async def test_an_api_key_is_not_a_session(self, auth: httpx.AsyncClient) -> None:
        refused(
            await auth.get("/tenants", headers=as_key("key_x", "ten_x")), 403, "session_required"
        )


class TestRead:
    async def test_its_admin_reads_it_by_id_and_by_slug(self, auth: httpx.AsyncClient) -> None:
        tenant, owner, _ = await owner_and_user(auth)
        by_id = await auth.get(f"/tenants/{tenant['id']}", headers=owner)
        by_slug = await auth.get(f"/tenants/slug/{tenant['slug']}", headers=owner)
        assert by_id.json() == tenant
        assert by_slug.json() == tenant

    async def test_another_tenant_is_404_by_id_and_by_slug(self, auth: httpx.AsyncClient) -> None:
        tenant, _, _ = await owner_and_user(auth)
        _, stranger, _ = await owner_and_user(auth)
        error = refused(
            await auth.get(f"/tenants/{tenant['id']}", headers=stranger), 404, "resource_missing"
        )
        assert error["param"] == "id"
        error = refused(
            await auth.get(f"/tenants/slug/{tenant['slug']}", headers=stranger),
            404,
            "resource_missing",
        )
        assert error["param"] == "slug"

    async def test_its_user_is_403_and_the_platform_admin_reads_any(
        self, auth: httpx.AsyncClient
    ) -> None:
        tenant, _, user = await owner_and_user(auth)
        refused(await auth.get(f"/tenants/{tenant['id']}", headers=user), 403, "role_required")
        admin = await platform_admin(auth)
        assert (await auth.get(f"/tenants/{tenant['id']}", headers=admin)).json() == tenant

    async def test_an_unknown_tenant_is_404(self, auth: httpx.AsyncClient) -> None:
        admin = await platform_admin(auth)
        refused(await auth.get("/tenants/ten_missing", headers=admin), 404, "resource_missing")
        refused(await auth.get("/tenants/slug/missing", headers=admin), 404, "resource_missing")


class TestUpdate:
    async def test_its_admin_renames_it_and_an_event_is_written(
        self, auth: httpx.AsyncClient, auth_db: asyncpg.Connection
    ) -> None:
        tenant, owner, _ = await owner_and_user(auth)
        response = await auth.put(
            f"/tenants/{tenant['id']}",
            json={"name": "Renamed", "webhook_url": "https://hooks.example/y"},
            headers=owner,
        )
        assert response.status_code == 200, response.text
        assert response.json() == {
            **tenant,
            "name": "Renamed",
            "webhook_url": "https://hooks.example/y",
        }
        events = await auth_db.fetch(
            "SELECT payload FROM outbox WHERE tenant_id = $1 ORDER BY seq", tenant["id"]
        )
        assert [json.loads(e["payload"])["type"] for e in events][-1] == "tenant.updated"

    async def test_only_a_platform_admin_changes_the_rate_limit(
        self, auth: httpx.AsyncClient, redis: aioredis.Redis
    ) -> None:
        tenant, owner, _ = await owner_and_user(auth)
        path = f"/tenants/{tenant['id']}"
        refused(await auth.put(path, json={"rate_limit": 10}, headers=owner), 403, "role_required")
        admin = await platform_admin(auth)
        response = await auth.post(path, json={"rate_limit": 10}, headers=admin)
        assert response.status_code == 200
        assert response.json()["rate_limit"] == 10
        assert response.json()["name"] == tenant["name"]

    async def test_a_disabled_tenant_is_404(self, auth: httpx.AsyncClient) -> None:
        tenant, _, _ = await owner_and_user(auth)
        admin = await platform_admin(auth)
        await auth.delete(f"/tenants/{tenant['id']}", headers=admin)
        refused(
            await auth.put(f"/tenants/{tenant['id']}", json={"name": "X"}, headers=admin),
            404,
            "resource_missing",
        )


class TestDelete:
    async def test_the_tenant_its_users_sessions_and_keys_stop(
        self, auth: httpx.AsyncClient, redis: aioredis.Redis
    ) -> None:
        tenant, owner, _ = await owner_and_user(auth)
        key = (await auth.post("/auth/api_keys", json={}, headers=owner)).json()
        admin = await platform_admin(auth)
        response = await auth.delete(f"/tenants/{tenant['id']}", headers=admin)
        assert response.status_code == 200
        assert response.json()["status"] == "disabled"
        assert (await cached_state(redis, tenant["id"]))["status"] == "disabled"
        verify = await auth.post(
            "/internal/api_keys/verify",
            json={"secret_hash": secret_hash(key["secret"])},
            headers=gateway(),
        )
        refused(verify, 410, "api_key_revoked")
        refused(
            await auth.delete(f"/tenants/{tenant['id']}", headers=admin), 404, "resource_missing"
        )

    async def test_the_platform_tenant_cannot_be_deleted(self, auth: httpx.AsyncClient) -> None:
        admin = await platform_admin(auth)
        me = (await auth.get("/auth/me", headers=admin)).json()
        refused(
            await auth.delete(f"/tenants/{me['tenant_id']}", headers=admin), 400, "tenant_protected"
        )

    async def test_a_tenant_admin_cannot(self, auth: httpx.AsyncClient) -> None:
        tenant, owner, _ = await owner_and_user(auth)
        refused(await auth.delete(f"/tenants/{tenant['id']}", headers=owner), 403, "role_required")


class TestLiveMode:
    async def test_asked_for_then_turned_on_and_off(
        self, auth: httpx.AsyncClient, redis: aioredis.Redis
    ) -> None:
        tenant, owner, _ = await owner_and_user(auth)
        admin = await platform_admin(auth)
        ask = f"/auth/tenants/{tenant['id']}/live_mode/request"
        switch = f"/auth/tenants/{tenant['id']}/live_mode"

        assert (await auth.post(ask, headers=owner)).json()["live_mode"] == "requested"
        assert (await auth.post(ask, headers=owner)).json()["live_mode"] == "requested"
        on = await auth.post(switch, json={"enabled": True}, headers=admin)
        assert on.json()["live_mode"] == "on"
        assert await cached_state(redis, tenant["id"]) == {
            "id": tenant["id"],
            "status": "active",
            "live_mode": "on",
        }
        assert (await auth.post(ask, headers=owner)).json()["live_mode"] == "on"
        off = await auth.post(switch, json={"enabled": False}, headers=admin)
        assert off.json()["live_mode"] == "off"
        state = await auth.get(f"/internal/tenants/{tenant['id']}", headers=gateway())
        assert state.json() == {"id": tenant["id"], "status": "active", "live_mode": "off"}

    async def test_only_a_platform_admin_switches_it(self, auth: httpx.AsyncClient) -> None:
        tenant, owner, _ = await owner_and_user(auth)
        response = await auth.post(
            f"/auth/tenants/{tenant['id']}/live_mode", json={"enabled": True}, headers=owner
        )
        refused(response, 403, "role_required")

    async def test_a_disabled_tenant_is_404(self, auth: httpx.AsyncClient) -> None:
        tenant, _, _ = await owner_and_user(auth)
        admin = await platform_admin(auth)
        await auth.delete(f"/tenants/{tenant['id']}", headers=admin)
        response = await auth.post(
            f"/auth/tenants/{tenant['id']}/live_mode", json={"enabled": True}, headers=admin
        )
        refused(response, 404, "resource_missing")


class TestTenantState:
    async def test_only_the_gateway_asks(self, auth: httpx.AsyncClient) -> None:
        tenant, owner, _ = await owner_and_user(auth)
        path = f"/internal/tenants/{tenant['id']}"
        refused(await auth.get(path, headers=owner), 403, "internal_only")
        refused(
            await auth.get("/internal/tenants/ten_missing", headers=gateway()),
            404,
            "resource_missing",
        )
