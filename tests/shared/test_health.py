"""`/health` and `/ready` for every app, and the gateway's view of the services."""

from __future__ import annotations

import pytest

from cli.stack.ports import free_port
from shared import outbox
from shared.db import create_pool
from shared.settings import SERVICES
from tests.support.asgi import ServiceClient
from tests.support.servers import CreateDb


@pytest.mark.parametrize("service", SERVICES)
async def test_ready_when_database_and_redis_answer(
    service_client: ServiceClient, service: str
) -> None:
    async with service_client(service) as client:
        health = await client.get("/health")
        ready = await client.get("/ready")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "service": service}
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"redis": "ok", "database": "ok"}


async def test_not_ready_when_redis_is_down(service_client: ServiceClient) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    async with service_client("ledger", redis_url=dead, ready_timeout=1.0) as client:
        health = await client.get("/health")
        ready = await client.get("/ready")
    assert health.status_code == 200
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("down")


async def test_gateway_health_is_503_while_any_service_is_down(
    service_client: ServiceClient,
) -> None:
    dead = {f"{s}_url": f"http://127.0.0.1:{free_port()}" for s in SERVICES}
    async with service_client("gateway", **dead) as client:
        response = await client.get("/health")
        alias = await client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert set(body["services"]) == set(SERVICES)
    assert all(v.startswith("down") for v in body["services"].values())
    assert alias.status_code == 503


@pytest.mark.parametrize("service", SERVICES)
async def test_ready_says_how_far_the_outbox_is_behind(
    service_client: ServiceClient, service: str
) -> None:
    async with service_client(service) as client:
        ready = (await client.get("/ready")).json()
    # Nothing committed yet in a fresh database: nothing behind.
    assert ready["outbox"] == {"pending": 0, "oldest_seconds": None}


async def test_the_backlog_counts_unpublished_rows_and_the_oldest_ones_age(
    create_db: CreateDb,
) -> None:
    pool = await create_pool(await create_db("ledger"), application_name="test", min_size=1)
    try:
        for n, (age, published) in enumerate([(30, False), (5, False), (90, True)]):
            await pool.execute(
                "INSERT INTO outbox (event_id, tenant_id, livemode, type, payload, created_at,"
                " published_at) VALUES ($1, 't', false, 'x.y', '{}',"
                " now() - make_interval(secs => $2),"
                " CASE WHEN $3 THEN now() ELSE NULL END)",
                f"evt_{n}", float(age), published,
            )  # fmt: skip
        pending, oldest = await outbox.backlog(pool)
        assert pending == 2  # the published one is not behind, however old
        assert oldest is not None
        assert 30 <= oldest < 60
        await pool.execute("UPDATE outbox SET published_at = now()")
        assert await outbox.backlog(pool) == (0, None)
    finally:
        await pool.close()
