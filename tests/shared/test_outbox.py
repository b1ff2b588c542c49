"""The outbox: an event exists iff its transaction commits, and reaches Redis in order, once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import cast

import asyncpg
import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cli.stack.binaries import ensure_binaries
from cli.stack.ports import free_port
from cli.stack.redis import RedisServer
from cli.stack.supervisor import Supervisor
from shared import outbox
from shared.db import create_pool, transaction
from shared.identity import Identity
from shared.ids import new_id
from tests.support.asgi import ServiceClient
from tests.support.servers import CreateDb, scratch_dir

WEEK = 7 * 86400.0


@pytest.fixture
async def pool(create_db: CreateDb) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(await create_db("ledger"), application_name="test", min_size=1)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def tenant() -> Identity:
    return Identity(principal="key_x", principal_type="api_key", tenant_id=new_id("ten"))


async def emit_one(pool: asyncpg.Pool, who: Identity, n: int = 0) -> str:
    async with transaction(pool) as conn:
        return await outbox.emit(conn, who, type="thing.happened", data={"n": n})


Entry = tuple[bytes, dict[bytes, bytes]]


async def entries(redis: aioredis.Redis, name: str) -> list[Entry]:
    return cast(list[Entry], await redis.xrange(name))


async def stream(redis: aioredis.Redis, name: str) -> list[dict[bytes, bytes]]:
    return [fields for _, fields in await entries(redis, name)]


async def test_committed_event_reaches_both_streams_and_the_live_channel(
    pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    who = tenant()
    pubsub = redis.pubsub()
    await pubsub.subscribe(outbox.live_channel(who.tenant_scope, False))
    await pubsub.get_message(timeout=1)  # the subscribe confirmation

    event_id = await emit_one(pool, who, 7)
    assert await outbox.relay_round(pool, redis, retention_seconds=WEEK) == 1

    [entry] = await stream(redis, outbox.tenant_stream(who.tenant_scope, False))
    event = json.loads(entry[b"event"])
    assert entry[b"id"].decode() == event_id == event["id"]
    assert event["type"] == "thing.happened"
    assert event["object"] == "event"
    assert event["data"] == {"object": {"n": 7}}
    assert event["livemode"] is False
    assert event["tenant_id"] == who.tenant_id
    everything = await stream(redis, outbox.ALL_STREAM)
    mine = [e for e in everything if e.get(b"id") == event_id.encode()]
    assert len(mine) == 1
    assert mine[0][b"tenant"].decode() == who.tenant_id
    assert mine[0][b"mode"] == b"test"
    assert mine[0][b"event"] == entry[b"event"]

    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
    assert message is not None
    live = json.loads(message["data"])
    [(stream_id, _)] = await entries(redis, outbox.tenant_stream(who.tenant_scope, False))
    assert live["stream_id"] == stream_id.decode()
    assert live["event"].encode() == entry[b"event"]  # the exact bytes, not a re-encoding
    await pubsub.aclose()  # type: ignore[no-untyped-call]


async def test_a_batch_rings_each_live_channel_once_with_its_newest_event(
    pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    # The channel is a doorbell: listeners read the stream after their cursor when it rings.
    one, two = tenant(), tenant()
    channels = [outbox.live_channel(who.tenant_scope, False) for who in (one, two)]
    pubsub = redis.pubsub()
    await pubsub.subscribe(*channels)
    for _ in channels:
        await pubsub.get_message(timeout=1)  # the subscribe confirmations
    for n in range(3):
        await emit_one(pool, one, n)
        await emit_one(pool, two, n)
    assert await outbox.relay_round(pool, redis, retention_seconds=WEEK) == 6

    rung = []
    while message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=1):
        rung.append((message["channel"].decode(), json.loads(message["data"])["stream_id"]))
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    newest = [
        (channel, (await entries(redis, outbox.tenant_stream(who.tenant_scope, False)))[-1][0])
        for channel, who in zip(channels, (one, two), strict=True)
    ]
    assert sorted(rung) == sorted((channel, sid.decode()) for channel, sid in newest)


async def test_a_rolled_back_change_emits_nothing(
    pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    who = tenant()

    async def change_that_fails() -> None:
        async with transaction(pool) as conn:
            await outbox.emit(conn, who, type="thing.happened", data={})
            raise RuntimeError("the business change failed")

    with pytest.raises(RuntimeError):
        await change_that_fails()
    assert await outbox.relay_round(pool, redis, retention_seconds=WEEK) == 0
    assert await redis.exists(outbox.tenant_stream(who.tenant_scope, False)) == 0


async def test_live_and_test_mode_use_separate_streams(
    pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    ten = new_id("ten")
    live = Identity(principal="k", principal_type="api_key", tenant_id=ten, livemode=True)
    await emit_one(pool, live)
    await outbox.relay_round(pool, redis, retention_seconds=WEEK)
    assert len(await stream(redis, outbox.tenant_stream(ten, True))) == 1
    assert await redis.exists(outbox.tenant_stream(ten, False)) == 0


async def test_events_keep_commit_order(pool: asyncpg.Pool, redis: aioredis.Redis) -> None:
    who = tenant()
    ids = [await emit_one(pool, who, n) for n in range(40)]
    await outbox.relay_round(pool, redis, retention_seconds=WEEK)
    got = [
        e[b"id"].decode()
        for e in await stream(redis, outbox.tenant_stream(who.tenant_scope, False))
    ]
    assert got == ids


async def test_two_relays_at_once_publish_each_event_exactly_once(
    create_db: CreateDb, redis: aioredis.Redis
) -> None:
    dsn = await create_db("ledger")
    pools = [await create_pool(dsn, application_name=f"r{i}", min_size=1) for i in range(2)]
    try:
        who = tenant()
        async with transaction(pools[0]) as conn:
            ids = [
                await outbox.emit(conn, who, type="thing.happened", data={"n": n})
                for n in range(1200)
            ]

        async def keep_relaying(p: asyncpg.Pool) -> None:
            for _ in range(20):
                await outbox.relay_round(p, redis, retention_seconds=WEEK)

        await asyncio.gather(*(keep_relaying(p) for p in pools))
        got = [
            e[b"id"].decode()
            for e in await stream(redis, outbox.tenant_stream(who.tenant_scope, False))
        ]
        assert got == ids  # all of them, once each, in order
        async with pools[0].acquire() as conn:
            assert (
                await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
            )
    finally:
        for p in pools:
            await p.close()


async def test_rows_wait_while_redis_is_unreachable(
    pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    who = tenant()
    ids = [await emit_one(pool, who, n) for n in range(3)]
    away = aioredis.Redis(port=free_port(), socket_connect_timeout=0.5)
    with pytest.raises((RedisError, OSError)):
        await outbox.relay_round(pool, away, retention_seconds=WEEK)
    await away.aclose()
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 3
    ids.append(await emit_one(pool, who, 3))
    assert await outbox.relay_round(pool, redis, retention_seconds=WEEK) == 4
    got = [
        e[b"id"].decode()
        for e in await stream(redis, outbox.tenant_stream(who.tenant_scope, False))
    ]
    assert got == ids


async def test_the_running_relay_survives_a_redis_restart(create_db: CreateDb) -> None:
    """The relay loop of a service: woken by commits, retrying while Redis is away."""
    binaries = await asyncio.to_thread(ensure_binaries)
    dsn = await create_db("ledger")
    pool = await create_pool(dsn, application_name="test", min_size=1)
    port = free_port()
    with scratch_dir("micro-outbox-redis-") as root:
        server = RedisServer(data_dir=root / "data", port=port, binaries=binaries, persistent=False)

        async def start_redis() -> Supervisor:
            supervisor = Supervisor(root / "logs", echo=False)
            await server.wait_ready(await supervisor.spawn("redis", server.command()))
            return supervisor

        supervisor = await start_redis()
        client = aioredis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)
        relay = outbox.OutboxRelay(pool, client, dsn=dsn, interval=0.2, retention_seconds=WEEK)
        task = asyncio.create_task(relay.run())
        who = tenant()
        key = outbox.tenant_stream(who.tenant_scope, False)
        try:
            first = await emit_one(pool, who, 0)
            await wait_for_length(client, key, 1)
            await supervisor.stop_all()
            during = [await emit_one(pool, who, n) for n in range(1, 4)]
            await asyncio.sleep(0.5)
            supervisor = await start_redis()  # an empty Redis: persistence is off
            await wait_for_length(client, key, 3)
            got = [e[b"id"].decode() for e in await stream(client, key)]
            assert got == during
            assert first not in got
        finally:
            await relay.stop(task)
            await client.aclose()
            await supervisor.stop_all()
            await pool.close()


async def wait_for_length(client: aioredis.Redis, key: str, n: int, within: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        try:
            if await client.xlen(key) >= n:
                return
        except (RedisError, OSError):
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"{key} did not reach {n} entries")


async def test_a_service_publishes_its_events_at_commit(
    service_client: ServiceClient, create_db: CreateDb, redis: aioredis.Redis
) -> None:
    """create_service_app runs the relay: a commit is on Redis without anyone polling."""
    dsn = await create_db("ledger")
    async with service_client("ledger", database_url=dsn, outbox_interval=3600):
        pool = await create_pool(dsn, application_name="test", min_size=1)
        try:
            who = tenant()
            event_id = await emit_one(pool, who)
            await wait_for_length(redis, outbox.tenant_stream(who.tenant_scope, False), 1)
            [entry] = await stream(redis, outbox.tenant_stream(who.tenant_scope, False))
            assert entry[b"id"].decode() == event_id
        finally:
            await pool.close()


async def test_the_relay_holds_no_transaction_while_it_calls_redis(
    pool: asyncpg.Pool, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis may be slow; the relay's connection must not sit idle in a transaction (with
    its locks) while it waits for it."""
    await emit_one(pool, tenant())
    seen: list[str] = []
    real_publish = outbox.publish

    async def watched(*args: object, **kwargs: object) -> None:
        async with pool.acquire() as probe:
            states = await probe.fetch(
                "SELECT state FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )
        seen.extend(str(row["state"]) for row in states)
        await real_publish(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(outbox, "publish", watched)
    assert await outbox.relay_round(pool, redis, retention_seconds=WEEK) == 1
    assert seen, "the probe saw the relay's connection"
    assert "idle in transaction" not in seen
