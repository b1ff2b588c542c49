"""Retention: rows that are only history are deleted once older than their setting.

Every service with a database purges its idempotency results and published outbox rows;
a service adds its own jobs (events: the event log and delivery attempts; auth: ended
sessions). Each job deletes in bounded batches, one short statement each, so no purge
holds locks for long or bloats one transaction, and never touches a row something still
needs (an unpublished outbox row, a delivery still to be retried, ...): each job's SQL says
which rows those are.

The jobs run in the app's lifespan every `retention_interval` seconds, one after another.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from shared.aio import stop
from shared.db import Pool
from shared.state import AppState

log = logging.getLogger("micro.retention")

BATCH = 1000
_TRY_LOCK = "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))"


async def delete_in_batches(pool: Pool, statement: str, *args: object, batch: int = BATCH) -> int:
    """Run `statement`, a DELETE of at most its last parameter's number of rows, until it
    deletes fewer than that; returns how many went. Each run commits on its own.

    Each run holds a transaction lock keyed by the statement: replicas run the same jobs on
    the same rows, and two DELETEs of one batch that join several tables lock them in
    different orders and deadlock (seen in CI). A replica that finds the lock taken stops
    for this round: the holder is deleting the same rows."""
    total = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(_TRY_LOCK, statement):
                return total
            status: str = await conn.execute(statement, *args, batch)
        deleted = int(status.split()[-1])
        total += deleted
        if deleted < batch:
            return total
        await asyncio.sleep(0)  # let waiting requests take the pool between batches


@dataclass(frozen=True, slots=True)
class Job:
    """One kind of row that expires: `purge` deletes what is old enough and returns how many."""

    name: str
    purge: Callable[[AppState], Awaitable[int]]


async def run_jobs(state: AppState, jobs: Sequence[Job]) -> dict[str, int]:
    """One round of every job; a failing job is logged and the others still run."""
    deleted: dict[str, int] = {}
    for job in jobs:
        try:
            deleted[job.name] = await job.purge(state)
        except Exception:  # tried again next round
            log.exception("retention job failed", extra={"job": job.name})
            continue
        if deleted[job.name]:
            log.info("purged", extra={"job": job.name, "count": deleted[job.name]})
    return deleted


def retention(jobs: Sequence[Job]) -> Callable[[AppState], AbstractAsyncContextManager[None]]:
    """The lifespan hook running `jobs` every `retention_interval` seconds."""

    @asynccontextmanager
    async def hook(state: AppState) -> AsyncIterator[None]:
        settings = state.db_settings

        async def loop() -> None:
            while True:
                await run_jobs(state, jobs)
                await asyncio.sleep(settings.retention_interval)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            await stop(task)

    return hook
