"""The event log: fed from the global stream through a consumer group, deduplicated, read
back through the API exactly as emitted; the consumer survives restarts and lost streams."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from cli.stack.binaries import ensure_binaries
from cli.stack.ports import free_port
from cli.stack.redis import RedisServer
from cli.stack.supervisor import Supervisor
from shared import outbox
from shared.ids import new_id
from tests.support.events import (
    EventsService,
    event_row,
    events_service,
    key,
    new_group,
    publish,
    tenant,
    wait_stored,
)
from tests.support.polling import until
from tests.support.servers import PostgresHandle, scratch_dir


async def stored_event(
    service: EventsService, redis: aioredis.Redis, owner: str | None = None
) -> tuple[str, dict[str, Any]]:
    """One event of `owner` (a new tenant unless given) published, once the log holds it."""
    owner = owner or tenant()
    row = event_row(owner)
    await publish(redis, row)
    stored = await wait_stored(service.client, row["event_id"], key(owner))
    assert stored.is_success, stored.text
    return owner, row


class TestConsumer:
    async def test_an_event_emitted_in_a_transaction_reaches_the_log(
        self, service: EventsService
    ) -> None:
        owner = tenant()
        conn = await asyncpg.connect(service.dsn)
        try:
            async with conn.transaction():
                event_id = await outbox.emit(
                    conn, None, type="wallet.credited", data={"id": "wal_1"}, tenant_id=owner
                )
            payload = await conn.fetchval(
                "SELECT payload FROM outbox WHERE event_id = $1", event_id
            )
        finally:
            await conn.close()
        response = await wait_stored(service.client, event_id, key(owner))
        assert response.status_code == 200
        assert response.content == payload.encode()  # byte for byte what was emitted

    async def test_the_same_event_twice_is_stored_once(
        self, service: EventsService, redis: aioredis.Redis
    ) -> None:
        owner = tenant()
        row = event_row(owner)
        await publish(redis, row)
        await publish(redis, row)
        marker = event_row(owner, event_id=new_id("evt", at_ms=time.time_ns() // 10**6 + 5))
        await publish(redis, marker)
        assert (await wait_stored(service.client, marker["event_id"], key(owner))).is_success
        listed = (await service.client.get("/events", headers=key(owner))).json()["data"]
        assert [e["id"] for e in listed] == [marker["event_id"], row["event_id"]]

    async def test_malformed_entries_are_skipped_and_acknowledged(
        self, service: EventsService, redis: aioredis.Redis
    ) -> None:
        owner = tenant()
        await redis.xadd(outbox.ALL_STREAM, {"id": "evt_x", "type": "a.b", "event": "{nope"})
        await redis.xadd(outbox.ALL_STREAM, {"something": "else"})
        far_future = event_row(owner, created=10**15)
        await publish(redis, far_future)
        forged = event_row(owner)
        await redis.xadd(
            outbox.ALL_STREAM,
            {"id": new_id("evt"), "type": "a.b", "event": forged["payload"]},
        )
        marker = event_row(owner)
        await publish(redis, marker)
        assert (await wait_stored(service.client, marker["event_id"], key(owner))).is_success
        pending = await redis.xpending(outbox.ALL_STREAM, service.settings.consumer_group)
        assert pending["pending"] == 0
        listed = (await service.client.get("/events", headers=key(owner))).json()["data"]
        assert [e["id"] for e in listed] == [marker["event_id"]]

    async def test_the_group_is_made_again_when_the_stream_vanishes(
        self, pg: PostgresHandle, templates: dict[str, str], redis_url: str
    ) -> None:
        # As after a Redis restart without persistence. Its own Redis database, so
        # deleting the stream disturbs no other test.
        other_db = redis_url.rsplit("/", 1)[0] + "/3"
        redis = aioredis.Redis.from_url(other_db)
        try:
            async with events_service(pg, templates, other_db) as service:
                owner, _ = await stored_event(service, redis)
                await redis.delete(outbox.ALL_STREAM)
                await asyncio.sleep(0.3)
                await stored_event(service, redis, owner)
        finally:
            await redis.flushdb()
            await redis.aclose()


class TestPendingEntries:
    async def test_a_dead_consumers_entries_are_taken_over(
        self, pg: PostgresHandle, templates: dict[str, str], redis_url: str, redis: aioredis.Redis
    ) -> None:
        group = await new_group(redis)
        owner = tenant()
        ms = time.time_ns() // 1_000_000
        rows = [event_row(owner, event_id=new_id("evt", at_ms=ms + i)) for i in range(3)]
        await publish(redis, *rows)
        # A consumer that read them and died before acknowledging.
        taken: Any = await redis.xreadgroup(group, "dead-one", {outbox.ALL_STREAM: ">"}, count=10)
        assert len(taken[0][1]) == 3
        async with events_service(
            pg, templates, redis_url, consumer_group=group, claim_idle_ms=100
        ) as service:
            for row in rows:
                response = await wait_stored(service.client, row["event_id"], key(owner))
                assert response.is_success

            async def all_acknowledged() -> bool:
                return not (await redis.xpending(outbox.ALL_STREAM, group))["pending"]

            await until(all_acknowledged, within=5, what="every entry acknowledged")

    async def test_departed_members_of_the_group_are_forgotten(
        self, pg: PostgresHandle, templates: dict[str, str], redis_url: str, redis: aioredis.Redis
    ) -> None:
        group = await new_group(redis)
        await redis.xgroup_createconsumer(outbox.ALL_STREAM, group, "gone-1")
        async with events_service(
            pg,
            templates,
            redis_url,
            consumer_group=group,
            consumer_name="alive",
            claim_idle_ms=100,
            forget_consumers_after_ms=0,
        ):

            async def only_the_living() -> bool:
                members: Any = await redis.xinfo_consumers(outbox.ALL_STREAM, group)
                return {m["name"] for m in members} == {b"alive"}

            await until(only_the_living, within=5, what="the departed members forgotten")

    async def test_a_restarted_consumer_reads_back_its_own(
        self, pg: PostgresHandle, templates: dict[str, str], redis_url: str, redis: aioredis.Redis
    ) -> None:
        group = await new_group(redis)
        owner = tenant()
        row = event_row(owner)
        await publish(redis, row)
        # This very consumer read it, then its process died before storing it.
        await redis.xreadgroup(group, "replica-1", {outbox.ALL_STREAM: ">"}, count=10)
        async with events_service(
            pg,
            templates,
            redis_url,
            consumer_group=group,
            consumer_name="replica-1",
            claim_idle_ms=3_600_000,  # so only reading back its own can find it
        ) as service:
            assert (await wait_stored(service.client, row["event_id"], key(owner))).is_success


class TestList:
    async def test_filters_and_pages(self, service: EventsService, redis: aioredis.Redis) -> None:
        owner = tenant()
        now = int(time.time())
        ms = time.time_ns() // 1_000_000
        # Ids one millisecond apart: the order of ids is the order of creation.
        rows = [
            event_row(owner, type=kind, created=now + delta, event_id=new_id("evt", at_ms=ms + i))
            for i, (kind, delta) in enumerate(
                [
                    ("payment_intent.created", -300),
                    ("payment_intent.succeeded", -200),
                    ("payout.paid", -100),
                    ("payment_intent.succeeded", 0),
                ]
            )
        ]
        await publish(redis, *rows)
        await wait_stored(service.client, rows[-1]["event_id"], key(owner))
        ids = [row["event_id"] for row in rows]

        async def listed(**params: Any) -> list[str]:
            response = await service.client.get("/events", params=params, headers=key(owner))
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["object"] == "list"
            assert body["url"] == "/events"
            return [event["id"] for event in body["data"]]

        assert await listed() == ids[::-1]
        assert await listed(type="payment_intent.succeeded") == [ids[3], ids[1]]
        assert await listed(type="payment_intent.*") == [ids[3], ids[1], ids[0]]
        assert await listed(type="*") == ids[::-1]
        assert await listed(**{"created[gte]": now - 200, "created[lt]": now}) == [
            ids[2],
            ids[1],
        ]
        assert await listed(**{"created[gt]": now - 200, "created[lte]": now}) == [
            ids[3],
            ids[2],
        ]
        assert await listed(created=now - 300) == [ids[0]]
        assert await listed(limit=2) == [ids[3], ids[2]]
        assert await listed(limit=2, starting_after=ids[2]) == [ids[1], ids[0]]
        assert await listed(ending_before=ids[1]) == [ids[3], ids[2]]

    async def test_the_list_filters_by_object_id(
        self, service: EventsService, redis: aioredis.Redis
    ) -> None:
        owner, other = tenant(), tenant()
        ms = int(time.time() * 1000)
        mine = [
            event_row(owner, type=kind, object_id=obj, event_id=new_id("evt", at_ms=ms + i))
            for i, (kind, obj) in enumerate(
                [
                    ("payment_intent.created", "pi_a"),
                    ("payment_intent.created", "pi_b"),
                    ("payment_intent.succeeded", "pi_a"),
                ]
            )
        ]
        theirs = event_row(other, object_id="pi_a")
        await publish(redis, *mine, theirs)
        await wait_stored(service.client, theirs["event_id"], key(other))
        await wait_stored(service.client, mine[-1]["event_id"], key(owner))

        async def listed(headers: dict[str, str], **params: Any) -> list[str]:
            response = await service.client.get("/events", params=params, headers=headers)
            assert response.status_code == 200, response.text
            return [event["id"] for event in response.json()["data"]]

        ids = [row["event_id"] for row in mine]
        assert await listed(key(owner), object_id="pi_a") == [ids[2], ids[0]]
        assert await listed(key(owner), object_id="pi_b") == [ids[1]]
        assert await listed(key(owner), object_id="pi_a", type="payment_intent.created") == [ids[0]]
        assert await listed(key(owner), object_id="pi_a", limit=1, starting_after=ids[2]) == [
            ids[0]
        ]
        assert await listed(key(owner), object_id="pi_nothing") == []
        # Another tenant's events about an object of the same id stay theirs.
        assert await listed(key(other), object_id="pi_a") == [theirs["event_id"]]
        refused = await service.client.get(
            "/events", params={"object_id": "x" * 101}, headers=key(owner)
        )
        assert refused.status_code == 400
        assert refused.json()["error"]["param"].startswith("object_id")

    async def test_the_list_holds_the_exact_events(
        self, service: EventsService, redis: aioredis.Redis
    ) -> None:
        owner, row = await stored_event(service, redis)
        response = await service.client.get("/events", headers=key(owner))
        assert row["payload"].encode() in response.content
        assert response.json()["data"] == [json.loads(row["payload"])]

    async def test_tenants_and_modes_never_meet(
        self, service: EventsService, redis: aioredis.Redis
    ) -> None:
        owner, other = tenant(), tenant()
        test_row, live_row = event_row(owner), event_row(owner, livemode=True)
        other_row = event_row(other)
        await publish(redis, test_row, live_row, other_row)
        await wait_stored(service.client, other_row["event_id"], key(other))
        for headers, mine in (
            (key(owner), test_row),
            (key(owner, livemode=True), live_row),
            (key(other), other_row),
        ):
            listed = (await service.client.get("/events", headers=headers)).json()["data"]
            assert [e["id"] for e in listed] == [mine["event_id"]]
        for row in (live_row, other_row):
            for path in ("", "/deliveries"):
                response = await service.client.get(
                    f"/events/{row['event_id']}{path}", headers=key(owner)
                )
                assert response.status_code == 404
            response = await service.client.post(
                f"/events/{row['event_id']}/resend", headers=key(owner)
            )
            assert response.status_code == 404

    async def test_platform_admins_may_read_another_tenant(
        self, service: EventsService, redis: aioredis.Redis
    ) -> None:
        owner, row = await stored_event(service, redis)
        admin = key(tenant(), principal="usr_a", principal_type="user", role="PLATFORM_ADMIN")
        listed = await service.client.get("/events", params={"tenant_id": owner}, headers=admin)
        assert [e["id"] for e in listed.json()["data"]] == [row["event_id"]]
        one = await service.client.get(
            f"/events/{row['event_id']}", params={"tenant_id": owner}, headers=admin
        )
        assert one.status_code == 200
        stranger = key(tenant())
        refused = await service.client.get("/events", params={"tenant_id": owner}, headers=stranger)
        assert refused.status_code == 403
        assert refused.json()["error"]["type"] == "permission_error"

    @pytest.mark.parametrize(
        ("params", "param"),
        [
            ({"limit": "0"}, "limit"),
            ({"limit": "1000"}, "limit"),
            ({"limit": "ten"}, "limit"),
            ({"type": "not a type"}, "type"),
            ({"created": "-5"}, "created"),
            ({"created": "yesterday"}, "created"),
            ({"created[gte]": "-1"}, "created[gte]"),
            ({"created[around]": "5"}, "created"),
            ({"starting_after": "evt_1", "ending_before": "evt_2"}, None),
        ],
    )
    async def test_bad_params(
        self, service: EventsService, params: dict[str, str], param: str | None
    ) -> None:
        response = await service.client.get("/events", params=params, headers=key(tenant()))
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        if param is not None:
            assert error["param"] is not None
            assert error["param"].startswith(param)

    @pytest.mark.parametrize(
        "event_id",
        ["evt_nope", "we_01", "x" * 500, new_id("evt")],
        ids=["evt_nope", "we_01", "x500", "well-formed"],
    )
    async def test_unknown_events(self, service: EventsService, event_id: str) -> None:
        headers = key(tenant())
        for response in (
            await service.client.get(f"/events/{event_id}", headers=headers),
            await service.client.get(f"/events/{event_id}/deliveries", headers=headers),
            await service.client.post(f"/events/{event_id}/resend", headers=headers),
        ):
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "resource_missing"

    async def test_plain_users_and_strangers_are_refused(self, service: EventsService) -> None:
        user = key(tenant(), principal="usr_1", principal_type="user", role="USER")
        assert (await service.client.get("/events", headers=user)).status_code == 403
        assert (await service.client.get("/events")).status_code == 401


async def resent_without_stream(
    service: EventsService, redis: aioredis.Redis, body: dict[str, Any]
) -> httpx.Response:
    """The answer to a resend of a stored event with `body`, once it is checked that the
    tenant's stream got no entry from it."""
    owner, row = await stored_event(service, redis)
    stream = outbox.tenant_stream(owner, False)
    before = await redis.xlen(stream)
    response = await service.client.post(
        f"/events/{row['event_id']}/resend", json=body, headers=key(owner)
    )
    assert await redis.xlen(stream) == before, response.text
    return response


class TestResendToListeners:
    async def test_the_event_goes_out_again_on_the_stream_and_channel(
        self, service: EventsService, redis: aioredis.Redis
    ) -> None:
        owner, row = await stored_event(service, redis)
        stream = outbox.tenant_stream(owner, False)
        before = await redis.xlen(stream)
        pubsub = redis.pubsub()
        await pubsub.subscribe(outbox.live_channel(owner, False))
        try:
            await pubsub.get_message(timeout=1)  # the subscription confirmation
            response = await service.client.post(
                f"/events/{row['event_id']}/resend", headers=key(owner)
            )
            assert response.status_code == 200, response.text
            assert response.content == row["payload"].encode()
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
        assert message is not None
        live = json.loads(message["data"])
        assert (live["id"], live["type"], live["event"]) == (
            row["event_id"],
            row["type"],
            row["payload"],
        )
        assert await redis.xlen(stream) == before + 1
        newest: Any = await redis.xrevrange(stream, count=1)
        entry_id, fields = newest[0]
        assert entry_id.decode() == live["stream_id"]
        assert fields[b"event"] == row["payload"].encode()

    async def test_not_to_listeners_when_asked(
        self, service: EventsService, redis: aioredis.Redis
    ) -> None:
        response = await resent_without_stream(service, redis, {"live": False})
        assert response.status_code == 200

    @pytest.mark.parametrize(
        ("body", "status", "param"),
        [
            ({"webhook_endpoint": "we_nope"}, 404, "webhook_endpoint"),
            ({"webhook_endpoint": 5}, 400, "webhook_endpoint"),
            ({"live": "sometimes"}, 400, "live"),
            ({"surprise": True}, 400, "surprise"),
        ],
    )
    async def test_bad_input(
        self,
        service: EventsService,
        redis: aioredis.Redis,
        body: dict[str, Any],
        status: int,
        param: str,
    ) -> None:
        response = await resent_without_stream(service, redis, body)  # nothing half-done
        assert response.status_code == status, response.text
        assert response.json()["error"]["param"] == param


class RestartableRedis:
    """A Redis server on a fixed port that can be stopped and started again, empty (no
    persistence), as a crashed Redis comes back."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.supervisor: Supervisor | None = None

    async def start(self) -> None:
        binaries = await asyncio.to_thread(ensure_binaries)
        server = RedisServer(
            data_dir=self.root / "data", port=self.port, binaries=binaries, persistent=False
        )
        self.supervisor = Supervisor(self.root / "logs", echo=False)
        process = await self.supervisor.spawn("redis", server.command())
        await server.wait_ready(process)

    async def stop(self) -> None:
        if self.supervisor is not None:
            await self.supervisor.stop_all()
            self.supervisor = None


async def test_a_redis_restart_is_waited_out(pg: PostgresHandle, templates: dict[str, str]) -> None:
    with scratch_dir("micro-test-redis-") as root:
        server = RestartableRedis(root)
        await server.start()
        try:
            async with events_service(pg, templates, server.url) as service:
                redis = aioredis.Redis.from_url(server.url)
                try:
                    owner, _ = await stored_event(service, redis)
                    await server.stop()
                    await asyncio.sleep(1.0)  # the consumer fails and backs off meanwhile
                    await server.start()
                    await redis.aclose()
                    redis = aioredis.Redis.from_url(server.url)  # the old connection is dead
                    await stored_event(service, redis, owner)
                finally:
                    await redis.aclose()
        finally:
            await server.stop()


async def test_a_resend_while_redis_is_down_keeps_nothing(
    pg: PostgresHandle, templates: dict[str, str]
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    async with events_service(pg, templates, dead) as service:
        owner = tenant()
        row = event_row(owner)
        conn = await asyncpg.connect(service.dsn)
        try:
            await conn.execute(
                "INSERT INTO events (id, tenant_id, livemode, type, payload, created_at) "
                "VALUES ($1, $2, false, $3, $4, now())",
                row["event_id"],
                owner,
                row["type"],
                row["payload"],
            )
            await conn.execute(
                "INSERT INTO webhook_endpoints (id, tenant_id, livemode, url, enabled_events, "
                "secret) VALUES ($1, $2, false, 'http://127.0.0.1:9/', '{*}', 'whsec_QUJD')",
                new_id("we"),
                owner,
            )
            response = await service.client.post(
                f"/events/{row['event_id']}/resend", headers=key(owner)
            )
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "event_stream_unavailable"
            assert await conn.fetchval("SELECT count(*) FROM deliveries") == 0
        finally:
            await conn.close()
