"""A tenant's `webhook_url`, set through auth's tenants API, becomes its default webhook
endpoint: auth emits `tenant.created`/`tenant.updated` in the same transaction as the change,
and the events service keeps the endpoint in step."""

from __future__ import annotations

import json
import secrets
from typing import Any

import asyncpg

from services.auth.repository import tenants
from shared.ids import new_id
from tests.conftest import CreateDb, ServiceClient
from tests.support.asgi import identity_headers
from tests.support.events import events_service
from tests.support.polling import until
from tests.support.servers import PostgresHandle


async def tenant_row(dsn: str) -> str:
    tenant_id = new_id("ten")
    conn = await asyncpg.connect(dsn)
    try:
        await tenants.insert(
            conn,
            tenant_id=tenant_id,
            name="Shop",
            slug=f"shop-{secrets.token_hex(4)}",
            webhook_url="",
        )
    finally:
        await conn.close()
    return tenant_id


async def outbox_events(dsn: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT payload FROM outbox ORDER BY seq")
    finally:
        await conn.close()
    return [json.loads(row["payload"]) for row in rows]


async def test_an_update_emits_tenant_updated_in_its_transaction(
    service_client: ServiceClient, create_db: CreateDb
) -> None:
    dsn = await create_db("auth")
    tenant_id = await tenant_row(dsn)
    admin = identity_headers(
        tenant_id=tenant_id, principal="usr_1", principal_type="user", role="TENANT_ADMIN"
    )
    async with service_client("auth", database_url=dsn, outbox_interval=0.05) as auth:
        response = await auth.put(
            f"/tenants/{tenant_id}",
            json={"webhook_url": "https://shop.example/hook"},
            headers=admin,
        )
        assert response.status_code == 200, response.text
        refused = await auth.put(
            f"/tenants/{tenant_id}", json={"webhook_url": "not a url"}, headers=admin
        )
        assert refused.status_code == 400
    [event] = [e for e in await outbox_events(dsn) if e["type"] == "tenant.updated"]
    assert (event["tenant_id"], event["livemode"]) == (tenant_id, False)
    assert event["data"]["object"]["webhook_url"] == "https://shop.example/hook"


async def test_the_webhook_url_becomes_the_default_endpoint(
    service_client: ServiceClient,
    create_db: CreateDb,
    pg: PostgresHandle,
    templates: dict[str, str],
    redis_url: str,
) -> None:
    dsn = await create_db("auth")
    tenant_id = await tenant_row(dsn)
    admin = identity_headers(
        tenant_id=tenant_id, principal="usr_1", principal_type="user", role="TENANT_ADMIN"
    )
    key = identity_headers(tenant_id=tenant_id)
    async with (
        service_client("auth", database_url=dsn, outbox_interval=0.05) as auth,
        events_service(pg, templates, redis_url) as events,
    ):
        url = "http://127.0.0.1:4242/webhook"
        response = await auth.put(f"/tenants/{tenant_id}", json={"webhook_url": url}, headers=admin)
        assert response.status_code == 200

        async def endpoints() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = (
                await events.client.get("/webhook_endpoints", headers=key)
            ).json()["data"]
            return found

        found = await until(endpoints, what="the default endpoint")
        assert [(e["url"], e["default"]) for e in found] == [(url, True)]


async def test_a_new_tenant_with_a_webhook_url_emits_tenant_created(
    service_client: ServiceClient, create_db: CreateDb
) -> None:
    dsn = await create_db("auth")
    admin = identity_headers(
        tenant_id=new_id("ten"), principal="usr_a", principal_type="user", role="PLATFORM_ADMIN"
    )
    async with service_client("auth", database_url=dsn, outbox_interval=0.05) as auth:
        response = await auth.post(
            "/tenants",
            json={"name": "Shop", "webhook_url": "https://shop.example/hook"},
            headers=admin,
        )
        assert response.status_code == 201, response.text
    [event] = [e for e in await outbox_events(dsn) if e["type"] == "tenant.created"]
    assert event["tenant_id"] == response.json()["id"]
    assert event["data"]["object"]["webhook_url"] == "https://shop.example/hook"
