"""The events service's background work with two replicas running at once as real processes
on one database and one Redis: the stream consumer (one consumer group, each entry stored
once; a dead member's entries taken over), the delivery workers (one attempt per due
delivery per lease; a dead worker's attempt made again, same event id) and retention (both
purge, neither trips over the other). docs/architecture.md, "Background jobs and replicas".
"""

from __future__ import annotations

import secrets
import socket
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis

from shared import outbox
from tests.conftest import CreateDb
from tests.support.events import WEBHOOK_SECRETS_KEY, event_row, key, publish, tenant
from tests.support.polling import until
from tests.support.replicas import Replica, logs, replicas, service_env, value
from tests.support.servers import owner_dsn
from tests.support.webhook_receiver import Receiver, webhook_receiver

FAST = {
    "retry_scale": 0.0002,
    "delivery_poll_interval": 0.05,
    "consumer_block_ms": 200,
    "outbox_interval": 0.05,
    "webhook_secrets_key": WEBHOOK_SECRETS_KEY,
}


def events_env(dsn: str, redis_url: str, **settings: object) -> dict[str, str]:
    """Both replicas in one consumer group of their own (other tests' groups hold nothing of
    theirs)."""
    return service_env(
        "events",
        dsn=dsn,
        redis_url=redis_url,
        settings={"consumer_group": f"events-{secrets.token_hex(4)}", **FAST, **settings},
    )


def consumer_of(replica: Replica) -> str:
    """Its name in the consumer group (the settings' default: host and pid)."""
    return f"{socket.gethostname()}-{replica.process.pid}"


async def an_endpoint(http: httpx.AsyncClient, owner: str, receiver: Receiver) -> None:
    response = await http.post(
        "/webhook_endpoints",
        json={"url": receiver.url, "enabled_events": ["*"]},
        headers=key(owner),
    )
    assert response.status_code == 200, response.text
    receiver.secret = response.json()["secret"]


async def stored(dsn: str, owner: str) -> int:
    return int(str(await value(dsn, "SELECT count(*) FROM events WHERE tenant_id = $1", owner)))


async def test_each_event_is_stored_and_delivered_once_by_two_replicas(
    create_db: CreateDb, redis_url: str, tmp_path: Path
) -> None:
    dsn = await create_db("events")
    env = events_env(dsn, redis_url)
    owner = tenant()
    async with webhook_receiver() as receiver:
        with replicas("events", env, tmp_path) as pair:
            async with httpx.AsyncClient(base_url=pair[0].url, timeout=30) as http:
                await an_endpoint(http, owner, receiver)
            redis = aioredis.from_url(redis_url)
            try:
                rows = [event_row(owner) for _ in range(120)]
                for start in range(0, len(rows), 10):
                    await publish(redis, *rows[start : start + 10])
                await receiver.wait_for(len(rows), accepted=True, within=60)

                async def nothing_pending() -> bool:
                    summary: Any = await redis.xpending(outbox.ALL_STREAM, env_group(env))
                    return int(summary["pending"]) == 0

                await until(nothing_pending, what=lambda: logs(*pair))
            finally:
                await redis.aclose()
        assert all(r.verified for r in receiver.received)
    # Exactly once each: nothing failed, so nothing was tried twice.
    assert sorted(receiver.accepted_ids()) == sorted(r["event_id"] for r in rows)
    assert await stored(dsn, owner) == len(rows)
    # (The consumers also log what earlier tests streamed, and deliver some of it to the
    # default endpoints of those tenants: only this tenant's counts are this test's.)
    attempts = "SELECT count(*) FROM delivery_attempts WHERE tenant_id = $1"
    assert await value(dsn, attempts, owner) == len(rows)
    unfinished = "SELECT count(*) FROM deliveries WHERE tenant_id = $1 AND status <> 'succeeded'"
    assert await value(dsn, unfinished, owner) == 0


def env_group(env: dict[str, str]) -> str:
    return env["MICRO_EVENTS_CONSUMER_GROUP"]


async def test_entries_a_killed_consumer_held_are_taken_over(
    create_db: CreateDb, redis_url: str, tmp_path: Path
) -> None:
    dsn = await create_db("events")
    env = events_env(dsn, redis_url, claim_idle_ms=1000)
    group = env_group(env)
    owner = tenant()
    redis = aioredis.from_url(redis_url)
    # The log is locked: consumers read entries, then wait to store them, unacknowledged.
    blocker = await asyncpg.connect(owner_dsn(dsn))
    try:
        async with webhook_receiver() as receiver:
            with replicas("events", env, tmp_path) as pair:
                async with httpx.AsyncClient(base_url=pair[0].url, timeout=30) as http:
                    await an_endpoint(http, owner, receiver)
                victim = consumer_of(pair[0])
                locking = blocker.transaction()
                await locking.start()
                await blocker.execute("LOCK TABLE events IN SHARE MODE")
                rows = [event_row(owner) for _ in range(30)]
                for row in rows:
                    await publish(redis, row)

                async def victim_holds_entries() -> bool:
                    held: Any = await redis.xpending_range(
                        outbox.ALL_STREAM, group, min="-", max="+", count=100, consumername=victim
                    )
                    return len(held) > 0

                await until(victim_holds_entries, what=lambda: logs(*pair))
                pair[0].kill()
                await locking.rollback()

                await receiver.wait_for(len(rows), accepted=True, within=60)

                async def nothing_pending() -> bool:
                    summary: Any = await redis.xpending(outbox.ALL_STREAM, group)
                    return int(summary["pending"]) == 0

                await until(nothing_pending, what=lambda: logs(*pair))
                assert "took over abandoned event entries" in pair[1].output()
    finally:
        await blocker.close()
        await redis.aclose()
    assert set(receiver.accepted_ids()) == {r["event_id"] for r in rows}
    assert await stored(dsn, owner) == len(rows)


async def test_an_attempt_a_killed_worker_held_is_made_again_after_its_lease(
    create_db: CreateDb, redis_url: str, tmp_path: Path
) -> None:
    dsn = await create_db("events")
    # A lease of 6 s (the attempt's timeout, no margin). The victim is killed as soon as it
    # holds every attempt, before the survivor starts: started first, a survivor slow to
    # start on a loaded machine let the victim's own attempts time out and be retried by the
    # victim itself, a third arrival (seen with the suite on three workers).
    env = events_env(dsn, redis_url, delivery_timeout=6, delivery_lease_margin=0)
    owner = tenant()
    redis = aioredis.from_url(redis_url)
    try:
        async with webhook_receiver() as receiver:
            # Replica 1 alone first: every attempt under way is its own.
            with replicas("events", env, tmp_path, count=1) as (victim,):
                async with httpx.AsyncClient(base_url=victim.url, timeout=30) as http:
                    await an_endpoint(http, owner, receiver)
                receiver.delay = 8  # the receiver holds every request: attempts under way
                rows = [event_row(owner) for _ in range(10)]
                await publish(redis, *rows)
                await receiver.wait_until(lambda: receiver.in_flight == len(rows))
                victim.kill()
                receiver.delay = 0
                with replicas("events", env, tmp_path, count=1, first=2) as (survivor,):

                    async def all_delivered() -> bool:
                        done = await value(
                            dsn,
                            "SELECT count(*) FROM deliveries"
                            " WHERE tenant_id = $1 AND status = 'succeeded'",
                            owner,
                        )
                        return done == len(rows)

                    await until(all_delivered, what=lambda: logs(victim, survivor))
    finally:
        await redis.aclose()
    # At least once, same event id: the held attempt arrived, then the survivor's.
    arrived = Counter(r.headers["webhook-id"] for r in receiver.received)
    assert set(arrived) == {r["event_id"] for r in rows}
    assert all(count == 2 for count in arrived.values()), arrived
    # The killed worker recorded nothing; the survivor recorded its attempt, the second.
    numbers = await value(
        dsn,
        "SELECT array_agg(attempt ORDER BY attempt) FROM delivery_attempts WHERE tenant_id = $1",
        owner,
    )
    assert numbers == [2] * len(rows)


async def test_two_replicas_purge_side_by_side(
    create_db: CreateDb, redis_url: str, tmp_path: Path
) -> None:
    dsn = await create_db("events")
    env = events_env(dsn, redis_url, retention_interval=0.05)
    with replicas("events", env, tmp_path) as pair:
        # Both are purging every 50 ms when this history lands, all in one commit: old rows in
        # more than one purge statement each (1,000 rows a statement), and what must stay
        # however old: an event a delivery still waits on (its endpoint disabled, so nothing
        # delivers it meanwhile) with its attempt, an unpublished outbox row.
        conn = await asyncpg.connect(owner_dsn(dsn))
        try:
            async with conn.transaction():
                await old_history(conn)
        finally:
            await conn.close()

        async def purged() -> bool:
            left = await value(
                dsn,
                # Only this history: the consumers also log what earlier tests streamed.
                "SELECT (SELECT count(*) FROM events WHERE tenant_id = 'ten_r')"
                " + (SELECT count(*) FROM delivery_attempts WHERE tenant_id = 'ten_r')"
                " + (SELECT count(*) FROM idempotency_keys WHERE tenant_id = 'ten_r')"
                " + (SELECT count(*) FROM outbox WHERE tenant_id = 'ten_r'"
                "    AND event_id <> 'evt_out_1')",
            )
            return left == 2

        await until(purged, what=lambda: logs(*pair))
        for member in pair:
            assert "retention job failed" not in member.output(), member.output()
    kept = "SELECT array_agg(id) FROM events WHERE tenant_id = 'ten_r'"
    assert await value(dsn, kept) == ["evt_old_7"]
    attempts = "SELECT array_agg(delivery_id) FROM delivery_attempts WHERE tenant_id = 'ten_r'"
    assert await value(dsn, attempts) == ["whdel_7"]
    # Published by the relay meanwhile, now: not old, so kept too.
    outbox_rows = "SELECT array_agg(event_id) FROM outbox WHERE tenant_id = 'ten_r'"
    assert await value(dsn, outbox_rows) == ["evt_out_1"]


async def old_history(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "INSERT INTO webhook_endpoints (id, tenant_id, livemode, url, enabled_events, secret,"
        " status) VALUES ('we_r', 'ten_r', false, 'http://127.0.0.1:9/', ARRAY['*'],"
        " '\\x00'::bytea, 'disabled')"
    )
    await conn.execute(
        "INSERT INTO events (id, tenant_id, livemode, type, payload, created_at, received_at)"
        " SELECT 'evt_old_' || n, 'ten_r', false, 't', '{}', now(), now() - interval '40 days'"
        " FROM generate_series(1, 2500) n"
    )
    await conn.execute(
        "INSERT INTO deliveries (id, event_id, endpoint_id, tenant_id, livemode, status)"
        " SELECT 'whdel_' || n, 'evt_old_' || n, 'we_r', 'ten_r', false,"
        " CASE WHEN n = 7 THEN 'pending' ELSE 'succeeded' END"
        " FROM generate_series(1, 2500) n"
    )
    await conn.execute(
        "INSERT INTO delivery_attempts (id, delivery_id, event_id, endpoint_id, tenant_id,"
        " livemode, attempt, url, succeeded, duration_ms, started_at, finished_at)"
        " SELECT 'whatt_' || n, 'whdel_' || n, 'evt_old_' || n, 'we_r', 'ten_r', false, 1,"
        " 'http://x/', true, 1, now() - interval '40 days', now() - interval '40 days'"
        " FROM generate_series(1, 2500) n"
    )
    await conn.execute(
        "INSERT INTO idempotency_keys (tenant_id, livemode, key, request_hash, created_at)"
        " SELECT 'ten_r', false, 'k' || n, 'h', now() - interval '3 days'"
        " FROM generate_series(1, 2500) n"
    )
    await conn.execute(
        "INSERT INTO outbox (event_id, tenant_id, livemode, type, payload, published_at)"
        " SELECT 'evt_out_' || n, 'ten_r', false, 't', '{}',"
        " CASE WHEN n = 1 THEN NULL ELSE now() - interval '10 days' END"
        " FROM generate_series(1, 2500) n"
    )
