"""Makes lapsed holds final in the background. Balances ignore a lapsed hold the moment it
lapses; this only moves it out of the running totals and records the expiry."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.ledger.repository import transactions as transactions_repo
from services.ledger.service.settlement import expire_pending
from services.ledger.settings import LedgerSettings
from shared.aio import stop
from shared.db import Pool, in_transaction, transaction

log = logging.getLogger("micro.ledger.sweeper")


async def sweep_once(pool: Pool, *, limit: int = 100, events: bool = False) -> int:
    async with transaction(pool) as conn:
        lapsed = await transactions_repo.lapsed_holds(conn, limit=limit)
    expired = 0
    for hold in lapsed:
        work = functools.partial(
            expire_pending,
            tenant_id=hold.tenant_id,
            livemode=hold.livemode,
            transaction_id=hold.transaction_id,
            events=events,
        )
        if await in_transaction(pool, work):
            expired += 1
    return expired


@asynccontextmanager
async def running_sweeper(pool: Pool, settings: LedgerSettings) -> AsyncIterator[None]:
    """A sweep every `sweep_interval` seconds until the block ends."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(settings.sweep_interval)
            try:
                await sweep_once(pool, events=settings.transaction_events)
            except Exception:  # a failed sweep is retried next round; balances are right anyway
                log.exception("sweep failed")

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        await stop(task)
