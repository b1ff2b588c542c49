"""Finished attempts recorded in batches (service/delivery.py `Recorder`, `record_many`):
the same rows as recording them one after the other, in fewer transactions, and one by one
again when a batch cannot be written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.events.repository import deliveries as deliveries_repo
from services.events.service import delivery
from services.events.service.delivery import Outcome, Recorder, record_many
from shared.db import Connection, transaction
from shared.ids import new_id
from tests.support.events import EventsService, event_row, events_service, tenant
from tests.support.servers import PostgresHandle


@pytest.fixture
async def service(
    pg: PostgresHandle, templates: dict[str, str], redis_url: str
) -> AsyncIterator[EventsService]:
    """The service on the real retry schedule: with the tests' fast one its worker retried a
    failure recorded here (to an unreachable URL) within milliseconds, marking the endpoint
    failing again before the test read it."""
    async with events_service(pg, templates, redis_url, retry_scale=1.0) as running:
        yield running


async def leased(conn: asyncpg.Connection, endpoint_id: str, owner: str) -> deliveries_repo.Claimed:
    """A delivery as a worker holds it once claimed: attempt 1 under way, its lease ahead
    (so the running service's worker leaves it alone)."""
    event = event_row(owner)
    await conn.execute(
        "INSERT INTO events (id, tenant_id, livemode, type, payload, created_at) "
        "VALUES ($1, $2, false, 't.x', $3, now())",
        event["event_id"],
        owner,
        event["payload"],
    )
    delivery_id = new_id("whdel")
    await conn.execute(
        "INSERT INTO deliveries (id, event_id, endpoint_id, tenant_id, livemode, attempts, "
        "next_attempt_at) VALUES ($1, $2, $3, $4, false, 1, now() + interval '1 hour')",
        delivery_id,
        event["event_id"],
        endpoint_id,
        owner,
    )
    return deliveries_repo.Claimed(
        id=delivery_id,
        event_id=event["event_id"],
        endpoint_id=endpoint_id,
        tenant_id=owner,
        livemode=False,
        attempts=1,
        payload=event["payload"],
        url="http://127.0.0.1:9/",
        signature="standard",
        secret=b"",
        previous_secret=None,
    )


async def endpoint(conn: asyncpg.Connection, owner: str) -> str:
    endpoint_id = new_id("we")
    await conn.execute(
        "INSERT INTO webhook_endpoints (id, tenant_id, livemode, url, enabled_events, secret) "
        "VALUES ($1, $2, false, 'http://127.0.0.1:9/', '{t.other}', 'whsec_x')",
        endpoint_id,
        owner,
    )
    return endpoint_id


def answered(status: int) -> Outcome:
    now = datetime.now(UTC)
    return Outcome(now, now + timedelta(milliseconds=3), 3, status_code=status)


async def states(conn: asyncpg.Connection, ids: Sequence[str]) -> list[tuple[str, int]]:
    found = await conn.fetch(
        "SELECT d.id, d.status, (SELECT count(*) FROM delivery_attempts a "
        "WHERE a.delivery_id = d.id) AS attempts FROM deliveries d WHERE d.id = ANY($1)",
        list(ids),
    )
    by_id = {r["id"]: (r["status"], r["attempts"]) for r in found}
    return [by_id[i] for i in ids]


class TestRecordMany:
    async def test_the_same_as_one_after_the_other(self, service: EventsService) -> None:
        owner = tenant()
        conn = await asyncpg.connect(service.dsn)
        try:
            recovers, fails = await endpoint(conn, owner), await endpoint(conn, owner)
            batch = [
                (await leased(conn, recovers, owner), answered(500)),
                (await leased(conn, fails, owner), answered(200)),
                (await leased(conn, recovers, owner), answered(200)),
                (await leased(conn, fails, owner), answered(503)),
            ]
            async with transaction(service.state.db) as db:
                await record_many(db, batch, settings=service.settings)

            found = await states(conn, [claimed.id for claimed, _ in batch])
            # Failures wait for their retry; every attempt is in the history once.
            assert found == [("pending", 1), ("succeeded", 1), ("succeeded", 1), ("pending", 1)]
            rows = await conn.fetch(
                "SELECT id, failing_since IS NOT NULL AS failing FROM webhook_endpoints "
                "WHERE id = ANY($1)",
                [recovers, fails],
            )
            failing: dict[str, bool] = {row["id"]: row["failing"] for row in rows}
            # In order: the success after a failure cleared it, the failure after a success
            # set it.
            assert failing == {recovers: False, fails: True}
        finally:
            await conn.close()


class TestRecorder:
    async def test_attempts_finishing_together_share_transactions(
        self, service: EventsService, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        batches: list[int] = []
        original = delivery.record_many
        ours: set[str] = set()

        async def counted(conn: Connection, finished: Sequence[Any], **kwargs: Any) -> None:
            # Only ours: the running service's own worker records through it too.
            if mine := [claimed for claimed, _ in finished if claimed.id in ours]:
                batches.append(len(mine))
            await original(conn, finished, **kwargs)

        monkeypatch.setattr(delivery, "record_many", counted)
        owner = tenant()
        conn = await asyncpg.connect(service.dsn)
        try:
            endpoint_id = await endpoint(conn, owner)
            claimed = [await leased(conn, endpoint_id, owner) for _ in range(20)]
            ours.update(c.id for c in claimed)
            recorder = Recorder(service.state.db, service.settings)
            await asyncio.gather(*(recorder.record(c, answered(200)) for c in claimed))

            assert await states(conn, [c.id for c in claimed]) == [("succeeded", 1)] * 20
            assert sum(batches) == 20
            assert len(batches) < 20
        finally:
            await conn.close()

    async def test_a_batch_that_cannot_be_written_is_recorded_one_by_one(
        self, service: EventsService, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def broken(conn: Connection, finished: Sequence[Any], **kwargs: Any) -> None:
            raise asyncpg.DataError("this batch cannot be written")

        monkeypatch.setattr(delivery, "record_many", broken)
        owner = tenant()
        conn = await asyncpg.connect(service.dsn)
        try:
            endpoint_id = await endpoint(conn, owner)
            claimed = [await leased(conn, endpoint_id, owner) for _ in range(5)]
            recorder = Recorder(service.state.db, service.settings)
            await asyncio.gather(
                *(
                    recorder.record(c, answered(200 if n % 2 else 500))
                    for n, c in enumerate(claimed)
                )
            )

            assert await states(conn, [c.id for c in claimed]) == [
                ("pending", 1),
                ("succeeded", 1),
                ("pending", 1),
                ("succeeded", 1),
                ("pending", 1),
            ]
        finally:
            await conn.close()
