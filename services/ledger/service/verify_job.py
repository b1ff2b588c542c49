"""`ledger verify` run periodically inside the ledger service, so a discrepancy becomes an
alert (`micro_ledger_verify_discrepancies`) rather than waiting for someone to run the CLI.

With several replicas on one database the run is claimed with a session advisory lock, and
a replica that gets the lock runs only when the last recorded run is at least an interval
old: one run per `verify_interval` however many replicas there are. A replica that dies
mid-run takes its lock with its session; the next replica's turn runs it again. The result
is one row in `verify_runs`, which every replica's `/metrics` reads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.ledger.repository import verification as verification_repo
from services.ledger.service.verify import verify_ledger
from services.ledger.settings import LedgerSettings
from shared.aio import stop
from shared.db import Pool

log = logging.getLogger("micro.ledger.verify_job")

_LOCK_ID = 0x6D6963726F_76  # "micro" + "v": not the outbox relay's lock


async def verify_once(pool: Pool, *, interval: float) -> int | None:
    """Run and record one verification if it is due and no other replica is running it;
    the number of discrepancies found, or None when this replica did not run it."""
    async with pool.acquire() as conn:
        if not await verification_repo.try_lock(conn, _LOCK_ID):
            return None
        try:
            since = await verification_repo.seconds_since_last_run(conn)
            if since is not None and since < interval:
                return None
            report = await verify_ledger(pool)
            found = len(report["discrepancies"])
            await verification_repo.record_run(conn, discrepancies=found)
        finally:
            await verification_repo.unlock(conn, _LOCK_ID)
    if found:
        log.error("ledger verify found discrepancies", extra={"count": found})
    return found


@asynccontextmanager
async def running_verifier(pool: Pool, settings: LedgerSettings) -> AsyncIterator[None]:
    """A verification every `verify_interval` seconds (0: never) until the block ends."""

    async def loop() -> None:
        while True:
            # An interval after start, not at it: a restart (or a new replica) never adds a
            # run of its own to the one the last interval had.
            await asyncio.sleep(settings.verify_interval)
            try:
                await verify_once(pool, interval=settings.verify_interval)
            except Exception:  # tried again next round; the gauges keep the last run's
                log.exception("ledger verify failed")

    if settings.verify_interval <= 0:
        yield
        return
    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        await stop(task)
