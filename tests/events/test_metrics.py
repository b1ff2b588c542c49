"""The events service's metrics, read from `/metrics` as Prometheus would: a delivery that
succeeds (and its lag from commit), one failing and waiting for its retry, an endpoint
disabled by a 410 (its waiting delivery cancelled with it)."""

from __future__ import annotations

import redis.asyncio as aioredis

from tests.support.events import (
    attempts_of,
    create_endpoint,
    event_row,
    events_service,
    key,
    new_group,
    publish,
    tenant,
)
from tests.support.metrics import scrape, value
from tests.support.servers import PostgresHandle
from tests.support.webhook_receiver import Receiver

DELIVERIES = "micro_webhook_deliveries_total"
OUTCOMES = ("succeeded", "retrying", "failed", "disabled")


async def test_deliveries_by_outcome_backlog_and_disabled_endpoints(
    pg: PostgresHandle,
    templates: dict[str, str],
    redis_url: str,
    redis: aioredis.Redis,
    receiver: Receiver,
) -> None:
    # The real retry schedule: a failed delivery waits, pending, for its next attempt. A
    # consumer group of its own: what earlier tests published (tenants with a webhook URL,
    # whose default endpoints would get deliveries too) never reaches this service.
    group = await new_group(redis)
    async with events_service(
        pg, templates, redis_url, retry_scale=1.0, consumer_group=group
    ) as service:
        client = service.client

        async def outcomes() -> dict[str, float]:
            return {o: await value(client, DELIVERIES, outcome=o) for o in OUTCOMES}

        async def attempted(row: dict[str, object]) -> None:
            await attempts_of(client, str(row["event_id"]), key(owner), bool)

        start = await outcomes()
        lag = await value(client, "micro_event_lag_seconds_count", stage="delivered")
        owner = tenant()
        await create_endpoint(client, key(owner), receiver)
        paid = event_row(owner)
        await publish(redis, paid)
        await attempted(paid)
        receiver.status = 503
        failing = event_row(owner)
        await publish(redis, failing)
        await attempted(failing)
        samples = await scrape(client)
        assert samples[("micro_webhook_deliveries_pending", frozenset())] == 1
        assert samples[("micro_webhook_endpoints_disabled", frozenset())] == 0
        receiver.status = 410
        gone = event_row(owner)
        await publish(redis, gone)
        await attempted(gone)
        end = await outcomes()
        assert {o: end[o] - start[o] for o in OUTCOMES} == {
            "succeeded": 1,
            "retrying": 1,
            "failed": 0,
            "disabled": 1,
        }
        assert await value(client, "micro_event_lag_seconds_count", stage="delivered") == lag + 1
        samples = await scrape(client)
        assert samples[("micro_webhook_deliveries_pending", frozenset())] == 0
        assert samples[("micro_webhook_endpoints_disabled", frozenset())] == 1
