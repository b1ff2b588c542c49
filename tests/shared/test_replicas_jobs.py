"""The outbox relay of every service with two replicas running at once as real processes on
one database and one Redis: each row reaches the stream once and in order; when the replica
holding the relay's lock is killed mid-publish, the other publishes the rest (at least
once: a repeat is the same event id, in order). docs/architecture.md, "Background jobs and
replicas"."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
import redis.asyncio as aioredis

from shared import outbox
from shared.settings import SERVICES
from tests.conftest import CreateDb
from tests.support.events import event_row, tenant
from tests.support.polling import until
from tests.support.replicas import lock_holder, logs, replicas, service_env
from tests.support.servers import PostgresHandle, owner_dsn

# What each service needs beside its database to start with nothing else running.
SETTINGS: dict[str, dict[str, object]] = {
    "auth": {"bcrypt_rounds": 4},
    "events": {"consumer_group": "replicas-outbox"},
    "wallet": {"follow_events": False},
}
LOCK = 0x6D6963726F  # shared/outbox.py's relay lock


async def owe_events(dsn: str, owner: str, count: int) -> list[str]:
    """`count` events in the outbox in one commit, as a service's change leaves them."""
    rows = [event_row(owner, type="thing.happened") for _ in range(count)]
    conn = await asyncpg.connect(owner_dsn(dsn))
    try:
        await conn.execute(
            "INSERT INTO outbox (event_id, tenant_id, livemode, type, payload) "
            "SELECT e.id, $1, false, 'thing.happened', e.payload "
            "FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS e(id, payload, n) "
            "ORDER BY e.n",
            owner,
            [r["event_id"] for r in rows],
            [r["payload"] for r in rows],
        )
    finally:
        await conn.close()
    return [r["event_id"] for r in rows]


async def streamed(redis: aioredis.Redis, owner: str) -> list[str]:
    entries: Any = await redis.xrange(outbox.tenant_stream(owner, False))
    return [fields[b"id"].decode() for _, fields in entries]


@pytest.mark.parametrize("service", SERVICES)
async def test_two_relays_publish_each_row_once_and_survive_the_lock_holders_death(
    service: str, pg: PostgresHandle, create_db: CreateDb, redis_url: str, tmp_path: Path
) -> None:
    dsn = await create_db(service)
    settings = {"outbox_interval": 0.05, **SETTINGS.get(service, {})}
    env = service_env(service, dsn=dsn, redis_url=redis_url, settings=settings)
    owner = tenant()
    redis = aioredis.from_url(redis_url)
    try:
        with replicas(service, env, tmp_path) as pair:
            first = await owe_events(dsn, owner, 1200)

            async def got(count: int) -> bool:
                return len(await streamed(redis, owner)) >= count

            await until(lambda: got(len(first)), what=lambda: logs(*pair))
            assert await streamed(redis, owner) == first  # once each, in commit order

            # Redis takes no writes: whoever takes the relay's lock next sits in its call.
            await redis.client_pause(60_000, all=False)  # writes only: reads still answer
            try:
                second = await owe_events(dsn, owner, 300)
                admin = pg.admin_dsn(urlsplit(dsn).path.lstrip("/"))

                async def holder_found() -> bool:
                    return await lock_holder(admin, pair, LOCK) is not None

                await until(holder_found, what=lambda: logs(*pair))
                holder = await lock_holder(admin, pair, LOCK)
                assert holder is not None
                holder.kill()
            finally:
                await redis.client_unpause()
            await until(lambda: got(len(first) + len(second)), what=lambda: logs(*pair))
            after = (await streamed(redis, owner))[len(first) :]
            # At least once, in order: a batch the dead relay got into Redis comes again.
            assert list(dict.fromkeys(after)) == second
            assert set(after) == set(second)
    finally:
        await redis.aclose()
    conn = await asyncpg.connect(owner_dsn(dsn))
    try:
        unpublished = "SELECT count(*) FROM outbox WHERE tenant_id = $1 AND published_at IS NULL"
        assert await conn.fetchval(unpublished, owner) == 0
    finally:
        await conn.close()
