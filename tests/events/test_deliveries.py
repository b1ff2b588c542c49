"""Signed deliveries to webhook endpoints: a real receiver verifies every signature with the
public `standardwebhooks` library. Retries, 410, failing endpoints, SSRF at delivery time,
the tenant's default endpoint, resends, and replicas that never share an attempt."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from services.events.repository import deliveries as deliveries_repo
from shared import outbox
from shared.ids import new_id
from tests.support.events import (
    EventsService,
    attempts_of,
    create_endpoint,
    delivered,
    event_row,
    events_service,
    first_attempts,
    key,
    publish,
    tenant,
    wait_stored,
)
from tests.support.polling import until
from tests.support.servers import PostgresHandle
from tests.support.webhook_receiver import Receiver, webhook_receiver


async def endpoint_state(
    client: httpx.AsyncClient, endpoint_id: str, headers: dict[str, str]
) -> dict[str, Any]:
    body: dict[str, Any] = (
        await client.get(f"/webhook_endpoints/{endpoint_id}", headers=headers)
    ).json()
    return body


class TestDelivered:
    async def test_signed_exact_bytes_arrive(
        self, service: EventsService, redis: aioredis.Redis, receiver: Receiver
    ) -> None:
        owner = tenant()
        made = await create_endpoint(service.client, key(owner), receiver)
        row = event_row(owner)
        await publish(redis, row)
        await receiver.wait_for(1)
        got = receiver.received[0]
        assert got.verified
        assert got.body == row["payload"].encode()
        assert got.headers["webhook-id"] == row["event_id"]
        assert got.headers["Content-Type"] == "application/json"
        found = await attempts_of(service.client, row["event_id"], key(owner), bool)
        [attempt] = found
        assert attempt["succeeded"]
        assert attempt["status_code"] == 200
        assert (attempt["attempt"], attempt["webhook_endpoint"], attempt["url"]) == (
            1,
            made["id"],
            receiver.url,
        )
        assert attempt["error"] is None
        assert attempt["next_attempt"] is None
        assert attempt["duration_ms"] >= 0
        assert attempt["completed"] >= attempt["created"]

    async def test_only_matching_endpoints_of_the_same_tenant_and_mode(
        self, service: EventsService, redis: aioredis.Redis
    ) -> None:
        owner, other = tenant(), tenant()
        async with (
            webhook_receiver() as wanted,
            webhook_receiver() as family,
            webhook_receiver() as unwanted,
            webhook_receiver() as other_tenant,
        ):
            exact = await create_endpoint(
                service.client, key(owner), wanted, enabled_events=["payout.paid"]
            )
            wild = await create_endpoint(
                service.client, key(owner), family, enabled_events=["payout.*"]
            )
            await create_endpoint(service.client, key(owner), unwanted, enabled_events=["refund.*"])
            live = await service.client.post(
                "/webhook_endpoints",
                json={"url": "http://93.184.216.34/hook", "enabled_events": ["*"]},
                headers=key(owner, livemode=True),
            )
            assert live.status_code == 200
            await create_endpoint(service.client, key(other), other_tenant)
            row = event_row(owner, type="payout.paid")
            await publish(redis, row)
            await wanted.wait_for(1)
            await family.wait_for(1)
            marker = event_row(other)
            await publish(redis, marker)
            await other_tenant.wait_for(1)
            assert [r.headers["webhook-id"] for r in other_tenant.received] == [marker["event_id"]]
            assert unwanted.received == []
            found = await attempts_of(service.client, row["event_id"], key(owner), bool)
            assert sorted(a["webhook_endpoint"] for a in found) == sorted([exact["id"], wild["id"]])

    async def test_an_event_twice_on_the_stream_is_delivered_once(
        self, service: EventsService, redis: aioredis.Redis, receiver: Receiver
    ) -> None:
        owner = tenant()
        await create_endpoint(service.client, key(owner), receiver)
        row = event_row(owner)
        await publish(redis, row)
        await publish(redis, row)
        marker = event_row(owner)
        await publish(redis, marker)
        await receiver.wait_for(2)
        await asyncio.sleep(0.3)
        ids = sorted(r.headers["webhook-id"] for r in receiver.received)
        assert ids == sorted([row["event_id"], marker["event_id"]])

    async def test_an_event_emitted_through_the_outbox_is_delivered(
        self, service: EventsService, receiver: Receiver
    ) -> None:
        owner = tenant()
        await create_endpoint(service.client, key(owner), receiver)
        conn = await asyncpg.connect(service.dsn)
        try:
            async with conn.transaction():
                event_id = await outbox.emit(
                    conn, None, type="wallet.credited", data={"id": "wal_1"}, tenant_id=owner
                )
        finally:
            await conn.close()
        await receiver.wait_for(1)
        assert receiver.received[0].verified
        assert receiver.received[0].headers["webhook-id"] == event_id


class TestRetries:
    async def test_a_failing_receiver_that_recovers_gets_it_on_a_retry(
        self, service: EventsService, redis: aioredis.Redis, receiver: Receiver
    ) -> None:
        owner = tenant()
        await create_endpoint(service.client, key(owner), receiver)
        receiver.status = 503
        row = event_row(owner)
        await publish(redis, row)
        await attempts_of(service.client, row["event_id"], key(owner), lambda a: len(a) >= 2)
        receiver.status = 200
        found = await attempts_of(
            service.client, row["event_id"], key(owner), lambda a: any(x["succeeded"] for x in a)
        )
        oldest_first = found[::-1]
        assert [a["attempt"] for a in oldest_first] == list(range(1, len(found) + 1))
        assert [a["succeeded"] for a in oldest_first] == [False] * (len(found) - 1) + [True]
        failed = oldest_first[0]
        assert failed["status_code"] == 503
        assert failed["error"].startswith("HTTP 503")
        assert failed["next_attempt"] is not None
        assert len(receiver.accepted()) == 1
        assert {r.body for r in receiver.received} == {row["payload"].encode()}

    async def test_an_unreachable_endpoint_is_retried_until_the_schedule_ends(
        self, pg: PostgresHandle, templates: dict[str, str], redis_url: str, redis: aioredis.Redis
    ) -> None:
        # The whole schedule (27.6 hours) in two seconds.
        async with events_service(pg, templates, redis_url, retry_scale=0.00002) as service:
            owner = tenant()
            async with webhook_receiver() as gone:
                url = gone.url  # a port nothing listens on once it closes
            response = await service.client.post(
                "/webhook_endpoints",
                json={"url": url, "enabled_events": ["*"]},
                headers=key(owner),
            )
            assert response.status_code == 200
            row = event_row(owner)
            await publish(redis, row)
            # Eight attempts: at once, then the seven delays of the schedule.
            found = await attempts_of(
                service.client, row["event_id"], key(owner), lambda a: len(a) >= 8
            )
            await asyncio.sleep(0.5)
            again = await attempts_of(service.client, row["event_id"], key(owner), bool)
        assert len(again) == 8
        assert not any(a["succeeded"] for a in found)
        assert found[0]["next_attempt"] is None
        assert all(a["next_attempt"] for a in found[1:])
        assert all(a["status_code"] is None and a["error"] for a in found)

    async def test_a_wrong_secret_shows_in_the_attempts_until_the_receiver_is_fixed(
        self, service: EventsService, redis: aioredis.Redis, receiver: Receiver
    ) -> None:
        owner = tenant()
        made = await create_endpoint(service.client, key(owner), receiver)
        receiver.secret = "whsec_" + "QUJD" * 8  # not the endpoint's
        found = await first_attempts(service.client, redis, owner)
        assert (found[0]["succeeded"], found[0]["status_code"]) == (False, 400)
        assert not receiver.received[0].verified
        # Roll the secret and give the receiver the new one: a retry goes through.
        rolled = await service.client.post(
            f"/webhook_endpoints/{made['id']}/roll_secret", headers=key(owner)
        )
        receiver.secret = rolled.json()["secret"]
        await receiver.wait_for(1, accepted=True)
        assert receiver.accepted()[0].verified


class TestDisabling:
    async def test_410_disables_the_endpoint_and_says_so(
        self, service: EventsService, redis: aioredis.Redis, receiver: Receiver
    ) -> None:
        owner = tenant()
        made = await create_endpoint(service.client, key(owner), receiver)
        receiver.status = 410
        found = await first_attempts(service.client, redis, owner)
        assert found[0]["status_code"] == 410
        assert found[0]["next_attempt"] is None
        state = await endpoint_state(service.client, made["id"], key(owner))
        assert (state["status"], state["disabled_reason"]) == ("disabled", "gone")
        notice = await wait_for_event(service, owner, "webhook_endpoint.disabled")
        assert notice["data"]["object"]["id"] == made["id"]
        # Nothing more goes to it.
        later = event_row(owner)
        await publish(redis, later)
        await wait_stored(service.client, later["event_id"], key(owner))
        await asyncio.sleep(0.3)
        assert len(receiver.received) == 1

    async def test_an_endpoint_failing_too_long_is_disabled(
        self, pg: PostgresHandle, templates: dict[str, str], redis_url: str, redis: aioredis.Redis
    ) -> None:
        async with (
            events_service(pg, templates, redis_url, disable_after_seconds=0.3) as service,
            webhook_receiver() as receiver,
        ):
            owner = tenant()
            made = await create_endpoint(service.client, key(owner), receiver)
            receiver.status = 500
            await publish(redis, event_row(owner))
            notice = await wait_for_event(service, owner, "webhook_endpoint.disabled")
            assert notice["data"]["object"]["disabled_reason"] == "failing"
            state = await endpoint_state(service.client, made["id"], key(owner))
            assert state["status"] == "disabled"

    async def test_a_success_resets_the_failure_clock(
        self, pg: PostgresHandle, templates: dict[str, str], redis_url: str, redis: aioredis.Redis
    ) -> None:
        # Time passing is written into failing_since rather than slept through, so a slow
        # machine cannot disable the endpoint: each failing spell is pushed 45 s into the
        # past, three spells make 135 s against a 60 s limit, and only a success between
        # them (which forgets failing_since) keeps the endpoint enabled.
        async with (
            events_service(
                pg, templates, redis_url, disable_after_seconds=60.0, retry_scale=0.0001
            ) as service,
            webhook_receiver() as receiver,
        ):
            owner = tenant()
            made = await create_endpoint(service.client, key(owner), receiver)
            conn = await asyncpg.connect(service.dsn)
            try:
                for _ in range(3):
                    receiver.status = 500
                    row = event_row(owner)
                    await publish(redis, row)
                    await attempts_of(service.client, row["event_id"], key(owner), bool)
                    since = await conn.fetchval(
                        "UPDATE webhook_endpoints SET failing_since = failing_since - "
                        "interval '45 seconds' WHERE id = $1 RETURNING failing_since",
                        made["id"],
                    )
                    assert since is not None
                    receiver.status = 200
                    await attempts_of(
                        service.client,
                        row["event_id"],
                        key(owner),
                        lambda a: any(x["succeeded"] for x in a),
                    )
                    forgotten = await conn.fetchval(
                        "SELECT failing_since FROM webhook_endpoints WHERE id = $1", made["id"]
                    )
                    assert forgotten is None
            finally:
                await conn.close()
            state = await endpoint_state(service.client, made["id"], key(owner))
            assert state["status"] == "enabled"


async def wait_for_event(service: EventsService, owner: str, kind: str) -> dict[str, Any]:

    async def first() -> dict[str, Any] | None:
        response = await service.client.get("/events", params={"type": kind}, headers=key(owner))
        data: list[dict[str, Any]] = response.json()["data"]
        return data[0] if data else None

    return await until(first, what=f"a {kind} event")


class TestSsrfAtDelivery:
    @pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
    async def test_live_mode_refuses_when_the_address_turned_private(
        self, service: EventsService, redis: aioredis.Redis, receiver: Receiver, host: str
    ) -> None:
        owner = tenant()
        headers = key(owner, livemode=True)
        response = await service.client.post(
            "/webhook_endpoints",
            json={"url": "http://93.184.216.34/hook", "enabled_events": ["*"]},
            headers=headers,
        )
        made = response.json()
        # As if its DNS name now resolved to the service's own network.
        private_url = receiver.url.replace("127.0.0.1", host)
        conn = await asyncpg.connect(service.dsn)
        try:
            await conn.execute(
                "UPDATE webhook_endpoints SET url = $2 WHERE id = $1", made["id"], private_url
            )
        finally:
            await conn.close()
        found = await first_attempts(service.client, redis, owner, livemode=True)
        assert found[0]["error"].startswith("refused")
        assert found[0]["status_code"] is None
        assert receiver.received == []


class TestDefaultEndpoint:
    async def test_the_tenants_webhook_url_is_kept_as_an_endpoint(
        self, service: EventsService, redis: aioredis.Redis, receiver: Receiver
    ) -> None:
        owner = tenant()
        await publish(redis, tenant_event(owner, receiver.url))
        listed = await wait_for_endpoints(service, owner, 1)
        [default] = listed
        assert (default["url"], default["default"], default["enabled_events"]) == (
            receiver.url,
            True,
            ["*"],
        )
        # Live mode refuses a private address, so there is none there.
        live = await service.client.get("/webhook_endpoints", headers=key(owner, livemode=True))
        assert live.json()["data"] == []
        rolled = await service.client.post(
            f"/webhook_endpoints/{default['id']}/roll_secret", headers=key(owner)
        )
        receiver.secret = rolled.json()["secret"]
        await delivered(redis, receiver, owner)
        # A new URL moves it (same endpoint, same secret); an empty one removes it.
        async with webhook_receiver(secret=receiver.secret) as moved:
            await publish(redis, tenant_event(owner, moved.url))
            listed = await wait_for_endpoints(
                service, owner, 1, lambda found: found[0]["url"] == moved.url
            )
            assert listed[0]["id"] == default["id"]
            await moved.wait_for(1, accepted=True)  # the tenant.updated event itself
        await publish(redis, tenant_event(owner, ""))
        await wait_for_endpoints(service, owner, 0)

    async def test_live_mode_too_when_allowed(
        self, pg: PostgresHandle, templates: dict[str, str], redis_url: str, redis: aioredis.Redis
    ) -> None:
        async with events_service(
            pg, templates, redis_url, allow_private_live_urls=True
        ) as service:
            owner = tenant()
            await publish(redis, tenant_event(owner, "http://127.0.0.1:9/hook"))
            await wait_for_endpoints(service, owner, 1)
            live = await service.client.get("/webhook_endpoints", headers=key(owner, livemode=True))
            assert [e["default"] for e in live.json()["data"]] == [True]


def tenant_event(owner: str, webhook_url: str) -> dict[str, Any]:
    row = event_row(owner, type="tenant.updated")
    event = json.loads(row["payload"])
    event["data"]["object"] = {"id": owner, "object": "tenant", "webhook_url": webhook_url}
    return {**row, "payload": json.dumps(event, separators=(",", ":"))}


async def wait_for_endpoints(
    service: EventsService,
    owner: str,
    count: int,
    also: Callable[[list[dict[str, Any]]], bool] = lambda _: True,
) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    async def listed() -> bool:
        response = await service.client.get("/webhook_endpoints", headers=key(owner))
        seen[:] = response.json()["data"]
        return len(seen) == count and also(seen)

    await until(listed, what=lambda: f"{count} endpoints; last seen {seen}")
    return seen


class TestResend:
    async def test_resend_to_every_matching_endpoint_or_one(
        self, service: EventsService, redis: aioredis.Redis
    ) -> None:
        owner = tenant()
        async with webhook_receiver() as first, webhook_receiver() as second:
            one = await create_endpoint(service.client, key(owner), first)
            await create_endpoint(service.client, key(owner), second)
            row = event_row(owner)
            await publish(redis, row)
            await first.wait_for(1)
            await second.wait_for(1)
            path = f"/events/{row['event_id']}/resend"
            assert (await service.client.post(path, headers=key(owner))).status_code == 200
            await first.wait_for(2)
            await second.wait_for(2)
            response = await service.client.post(
                path, json={"webhook_endpoint": one["id"], "live": False}, headers=key(owner)
            )
            assert response.status_code == 200
            await first.wait_for(3)
            await asyncio.sleep(0.2)
            assert len(second.received) == 2
            assert all(r.verified and r.body == row["payload"].encode() for r in first.received)
            assert {r.headers["webhook-id"] for r in first.received} == {row["event_id"]}

    async def test_not_to_a_disabled_endpoint(
        self, service: EventsService, redis: aioredis.Redis, receiver: Receiver
    ) -> None:
        owner = tenant()
        made = await create_endpoint(service.client, key(owner), receiver)
        row = event_row(owner)
        await publish(redis, row)
        await receiver.wait_for(1)
        await service.client.post(
            f"/webhook_endpoints/{made['id']}", json={"disabled": True}, headers=key(owner)
        )
        response = await service.client.post(
            f"/events/{row['event_id']}/resend",
            json={"webhook_endpoint": made["id"]},
            headers=key(owner),
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "endpoint_disabled"


class TestEndpointDeliveries:
    async def test_an_endpoints_attempts_of_every_event_newest_first(
        self, service: EventsService, redis: aioredis.Redis
    ) -> None:
        owner = tenant()
        async with webhook_receiver() as first, webhook_receiver() as second:
            one = await create_endpoint(service.client, key(owner), first)
            other = await create_endpoint(service.client, key(owner), second)
            rows_ = [event_row(owner), event_row(owner)]
            for row in rows_:
                await publish(redis, row)
            await first.wait_for(2)
            await second.wait_for(2)
            path = f"/webhook_endpoints/{one['id']}/deliveries"

            async def both_recorded() -> dict[str, Any] | None:
                response = await service.client.get(path, headers=key(owner))
                assert response.status_code == 200, response.text
                listed: dict[str, Any] = response.json()
                # Each attempt is recorded once its answer is in.
                return listed if len(listed["data"]) >= 2 else None

            body = await until(both_recorded, what="both attempts recorded")
            assert body["object"] == "list"
            assert body["url"] == path
            found = body["data"]
            assert {a["webhook_endpoint"] for a in found} == {one["id"]}
            assert {a["event_id"] for a in found} == {r["event_id"] for r in rows_}
            assert [a["id"] for a in found] == sorted((a["id"] for a in found), reverse=True)
            assert all(a["succeeded"] and a["status_code"] == 200 for a in found)
            # Paginated like every list.
            page_one = await service.client.get(path, params={"limit": 1}, headers=key(owner))
            assert page_one.json()["has_more"] is True
            assert len(page_one.json()["data"]) == 1
            other_path = f"/webhook_endpoints/{other['id']}/deliveries"
            theirs = (await service.client.get(other_path, headers=key(owner))).json()["data"]
            assert not {a["id"] for a in theirs} & {a["id"] for a in found}

    @pytest.mark.parametrize(
        "endpoint_id",
        ["we_nope", "evt_01", "x" * 300, new_id("we")],
        ids=["we_nope", "evt_01", "x300", "well-formed"],
    )
    async def test_unknown_or_another_tenants_endpoint_is_404(
        self, service: EventsService, endpoint_id: str
    ) -> None:
        response = await service.client.get(
            f"/webhook_endpoints/{endpoint_id}/deliveries", headers=key(tenant())
        )
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "resource_missing"

    async def test_not_another_tenants_or_modes(
        self, service: EventsService, receiver: Receiver
    ) -> None:
        owner = tenant()
        made = await create_endpoint(service.client, key(owner), receiver)
        path = f"/webhook_endpoints/{made['id']}/deliveries"
        assert (await service.client.get(path, headers=key(owner))).status_code == 200
        assert (await service.client.get(path, headers=key(tenant()))).status_code == 404
        live = key(owner, livemode=True)
        assert (await service.client.get(path, headers=live)).status_code == 404


class TestFairness:
    async def test_a_slow_endpoint_does_not_hold_every_slot(
        self, pg: PostgresHandle, templates: dict[str, str], redis_url: str, redis: aioredis.Redis
    ) -> None:
        async with (
            events_service(
                pg, templates, redis_url, delivery_concurrency=4, endpoint_concurrency=2
            ) as service,
            webhook_receiver() as slow,
            webhook_receiver() as fast,
        ):
            slow_owner, fast_owner = tenant(), tenant()
            await create_endpoint(service.client, key(slow_owner), slow)
            await create_endpoint(service.client, key(fast_owner), fast)
            slow.delay = 0.3
            await publish(redis, *[event_row(slow_owner) for _ in range(8)])
            await slow.wait_for(1)
            await publish(redis, event_row(fast_owner))
            await fast.wait_for(1)
            await slow.wait_for(8)
            # Two at a time to the slow one, whatever else was due: the other slots stayed
            # free for the fast tenant.
            assert slow.max_in_flight == 2


class TestReplicas:
    async def test_two_workers_never_claim_the_same_delivery(self, service: EventsService) -> None:
        owner = tenant()
        conn = await asyncpg.connect(service.dsn)
        try:
            endpoint_id = new_id("we")
            await conn.execute(
                "INSERT INTO webhook_endpoints (id, tenant_id, livemode, url, enabled_events, "
                "secret, status) VALUES ($1, $2, false, 'http://127.0.0.1:9/', '{*}', 'whsec_x', "
                "'disabled')",
                endpoint_id,
                owner,
            )
            rows = [event_row(owner) for _ in range(40)]
            await conn.execute(
                "INSERT INTO events (id, tenant_id, livemode, type, payload, created_at) "
                "SELECT unnest($1::text[]), $2, false, 't.x', '{}', now()",
                [r["event_id"] for r in rows],
                owner,
            )
            await deliveries_repo.create(
                conn,
                [
                    deliveries_repo.NewDelivery(
                        new_id("whdel"), r["event_id"], endpoint_id, owner, False
                    )
                    for r in rows
                ],
            )
            # Enabled only now, so the running service's worker may race us too: fine, the
            # point is that no delivery is ever claimed twice.
            await conn.execute(
                "UPDATE webhook_endpoints SET status = 'enabled' WHERE id = $1", endpoint_id
            )
        finally:
            await conn.close()

        async def claim() -> list[str]:
            worker = await asyncpg.connect(service.dsn)
            try:
                async with worker.transaction():
                    claimed = await deliveries_repo.claim_due(
                        worker, limit=30, lease_seconds=600, per_endpoint=100
                    )
                    await asyncio.sleep(0.05)  # hold the locks while the other one claims
                return [delivery.id for delivery in claimed]
            finally:
                await worker.close()

        first, second = await asyncio.gather(claim(), claim())
        assert not set(first) & set(second)
        assert len(first) + len(second) <= 40
