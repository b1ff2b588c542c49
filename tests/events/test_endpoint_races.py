"""An endpoint deleted while the deliverer holds one of its deliveries: the delete waits for
the delivery row (ON DELETE CASCADE) while the deliverer, in the same transaction, marks
the endpoint failing. PostgreSQL breaks that deadlock by aborting one side; the delete is
run again, never answered 500 (schemathesis found the 500 in the whole-stack run)."""

from __future__ import annotations

import asyncio

import asyncpg

from shared.ids import new_id
from tests.support.events import EventsService, key, tenant


async def test_a_delete_that_deadlocks_with_the_deliverer_is_run_again(
    service: EventsService,
) -> None:
    tenant_id = tenant()
    headers = key(tenant_id)
    made = await service.client.post(
        "/webhook_endpoints",
        json={"url": "http://127.0.0.1:4242/hook", "enabled_events": ["*"]},
        headers=headers,
    )
    assert made.status_code == 200, made.text
    endpoint_id = made.json()["id"]
    event_id, delivery_id = new_id("evt"), new_id("dlv")
    deliverer = await asyncpg.connect(service.dsn)
    try:
        await deliverer.execute(
            "INSERT INTO events (id, tenant_id, livemode, type, payload, created_at) "
            "VALUES ($1, $2, false, 'ping', '{}', now())",
            event_id,
            tenant_id,
        )
        await deliverer.execute(
            "INSERT INTO deliveries (id, event_id, endpoint_id, tenant_id, livemode) "
            "VALUES ($1, $2, $3, $4, false)",
            delivery_id,
            event_id,
            endpoint_id,
            tenant_id,
        )
        async with deliverer.transaction():
            # The deliverer's order: its delivery first, then the endpoint.
            await deliverer.execute(
                "SELECT 1 FROM deliveries WHERE id = $1 FOR UPDATE", delivery_id
            )
            delete = asyncio.create_task(
                service.client.delete(f"/webhook_endpoints/{endpoint_id}", headers=headers)
            )
            await asyncio.sleep(0.5)  # the delete holds the endpoint, waits on the delivery
            assert not delete.done()
            await deliverer.execute(
                "UPDATE webhook_endpoints SET failing_since = now() WHERE id = $1", endpoint_id
            )
        deleted = await delete
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["deleted"] is True
        gone = await deliverer.fetchval(
            "SELECT count(*) FROM deliveries WHERE endpoint_id = $1", endpoint_id
        )
        assert gone == 0
    finally:
        await deliverer.close()
