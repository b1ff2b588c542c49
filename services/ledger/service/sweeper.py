"""Makes lapsed holds final in the background. Balances ignore a lapsed hold the moment it
lapses; this only moves it out of the running totals and records the expiry."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.ledger.repository import transactions as transaction_rows
from services.ledger.service.settlement import expire_pending
from services.ledger.settings import LedgerSettings
from shared.aio import stop
from shared.db import Pool, in_transaction, transaction
from shared.state import AppState

log = logging.getLogger("micro.ledger.sweeper")


async def sweep_once(pool: Pool, *, limit: int = 100, events: bool = False) -> int:
    async with transaction(pool) as conn:
        lapsed = await transaction_rows.lapsed_holds(conn, limit=limit)
    expired = 0
    for row in lapsed:
        work = functools.partial(
            expire_pending,
            tenant_id=row["tenant_id"],
            livemode=row["livemode"],
            transaction_id=row["transaction_id"],
            events=events,
        )
        if await in_transaction(pool, work):
            expired += 1
    return expired


@asynccontextmanager
async def sweeper(state: AppState) -> AsyncIterator[None]:
    settings = state.settings
    assert isinstance(settings, LedgerSettings)

    async def loop() -> None:
        while True:
            await asyncio.sleep(settings.sweep_interval)
            try:
                await sweep_once(state.db, events=settings.transaction_events)
            except Exception:  # a failed sweep is retried next round; balances are right anyway
                log.exception("sweep failed")

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        await stop(task)
