"""The event log for Stripe's clients (issue #15): `GET /v1/events` and `/v1/events/{id}`
driven by stripe-python through `/v1` as the gateway rewrites it: `type`, `types[]` and
`created[gte]` spelled as the SDK spells them, auto-pagination on the list's `url`, and
another tenant's or mode's events never found."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis.asyncio as aioredis
import stripe

from shared.ids import new_id
from tests.events.stripe_client import stripe_client
from tests.support.events import (
    EventsService,
    event_row,
    key,
    publish,
    stripe_key,
    tenant,
    wait_stored,
)

KINDS = [
    ("payment_intent.created", -300),
    ("payment_intent.succeeded", -200),
    ("refund.created", -100),
    ("payout.paid", -50),
    ("payment_intent.succeeded", 0),
]


async def log_of(
    service: EventsService, redis: aioredis.Redis, owner: str
) -> tuple[list[str], int]:
    """Five events of `owner` in the log, ids in the order of creation; and the time `now`
    their `created` is measured from."""
    now = int(time.time())
    ms = time.time_ns() // 1_000_000
    rows = [
        event_row(owner, type=kind, created=now + delta, event_id=new_id("evt", at_ms=ms + i))
        for i, (kind, delta) in enumerate(KINDS)
    ]
    await publish(redis, *rows)
    assert (await wait_stored(service.client, rows[-1]["event_id"], key(owner))).status_code == 200
    return [row["event_id"] for row in rows], now


class TestThroughStripePython:
    async def test_list_with_stripes_filters_and_auto_pagination(
        self, service: EventsService, redis: aioredis.Redis
    ) -> None:
        owner = tenant()
        ids, now = await log_of(service, redis, owner)
        sdk, transport = stripe_client(service.client, owner)

        async def listed(params: Any) -> list[str]:
            page = await sdk.v1.events.list_async(params)
            assert page.url == "/v1/events"
            return [event.id async for event in page.auto_paging_iter()]

        everything = await sdk.v1.events.list_async({"limit": 2})
        assert everything.has_more is True
        assert all(isinstance(event, stripe.Event) for event in everything.data)
        assert [event.id async for event in everything.auto_paging_iter()] == ids[::-1]
        # The SDK walked the list's `url` with `starting_after`.
        assert [path for _, path in transport.asked[-3:]] == ["/v1/events"] * 3
        assert await listed({"type": "payment_intent.succeeded"}) == [ids[4], ids[1]]
        assert await listed({"types": ["refund.created", "payout.paid"]}) == [ids[3], ids[2]]
        assert await listed({"created": {"gte": now - 100}, "limit": 1}) == ids[2:][::-1]
        assert await listed({"created": {"gt": now - 300, "lt": now}}) == ids[1:4][::-1]
        assert await listed({"created": now - 300}) == [ids[0]]

    async def test_retrieve(self, service: EventsService, redis: aioredis.Redis) -> None:
        owner = tenant()
        ids, _ = await log_of(service, redis, owner)
        sdk, _ = stripe_client(service.client, owner)
        event = await sdk.v1.events.retrieve_async(ids[1])
        assert isinstance(event, stripe.Event)
        assert (event.id, event.type, event.livemode) == (ids[1], "payment_intent.succeeded", False)
        assert event.data.object["object"] == "payment_intent"

    async def test_another_tenants_or_modes_events_are_not_found(
        self, service: EventsService, redis: aioredis.Redis
    ) -> None:
        owner = tenant()
        ids, _ = await log_of(service, redis, owner)
        for sdk, _ in (
            stripe_client(service.client, tenant()),
            stripe_client(service.client, owner, livemode=True),
        ):
            with pytest.raises(stripe.InvalidRequestError) as missing:
                await sdk.v1.events.retrieve_async(ids[0])
            assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
            assert (await sdk.v1.events.list_async()).data == []

    async def test_bad_filters_raise_the_sdks_error(self, service: EventsService) -> None:
        sdk, _ = stripe_client(service.client, tenant())
        for params, param in (
            ({"type": "a.b", "types": ["c.d"]}, "types"),
            ({"types": [f"t.e{i}" for i in range(21)]}, "types"),
            ({"types": ["not a type"]}, "types[0]"),
            ({"created": {"gte": "yesterday"}}, "created[gte]"),
            ({"limit": 1000}, "limit"),
        ):
            with pytest.raises(stripe.InvalidRequestError) as refused:
                await sdk.v1.events.list_async(params)  # type: ignore[arg-type]
            assert (refused.value.http_status, refused.value.param) == (400, param)


class TestTypesOverHttp:
    @pytest.mark.parametrize(
        "query",
        [
            "types[]=refund.created&types[]=payout.paid",
            "types[0]=refund.created&types[1]=payout.paid",
            "types[0]=refund.*&types[1]=payout.paid",
        ],
    )
    async def test_either_spelling_of_a_list(
        self, service: EventsService, redis: aioredis.Redis, query: str
    ) -> None:
        owner = tenant()
        ids, _ = await log_of(service, redis, owner)
        response = await service.client.get(f"/events?{query}", headers=stripe_key(owner))
        assert response.status_code == 200, response.text
        body = response.json()
        assert [event["id"] for event in body["data"]] == [ids[3], ids[2]]
        assert body["url"] == "/v1/events"

    async def test_one_type_as_types_and_a_star_for_all(
        self, service: EventsService, redis: aioredis.Redis
    ) -> None:
        owner = tenant()
        ids, _ = await log_of(service, redis, owner)

        async def listed(query: str) -> list[str]:
            response = await service.client.get(f"/events?{query}", headers=key(owner))
            assert response.status_code == 200, response.text
            assert response.json()["url"] == "/events"
            return [event["id"] for event in response.json()["data"]]

        assert await listed("types=payout.paid") == [ids[3]]
        assert await listed("types[]=*&types[]=payout.paid") == ids[::-1]
        assert await listed("types[]=charge.succeeded") == []
