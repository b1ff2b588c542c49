"""The recovery job: finishes operations that their request left pending.

A request that died (process killed, upstream timeout) leaves its operation pending at some
step; so does a payout the bank has not answered yet, or a deposit waiting on its customer.
Each round takes the pending operations nobody touched for `recovery_grace` seconds and
drives them again from the step they reached. Several replicas may run it: a round marks
what it takes, and drivers lock each operation, so two never work on one at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import asyncpg

from services.wallet.repository import operations as operation_rows
from services.wallet.service import deposits, returns, transfers, withdrawals
from services.wallet.service.runtime import Runtime, runtime_of
from shared.aio import stop
from shared.db import transaction
from shared.internal_client import Unavailable
from shared.state import AppState

log = logging.getLogger("micro.wallet.recovery")

_ROUND = 100
DRIVERS: dict[str, Callable[[Runtime, str], Awaitable[asyncpg.Record]]] = {
    "deposit": deposits.drive,
    "transfer": transfers.drive,
    "withdrawal": withdrawals.drive,
    "refund": returns.drive,
    "reversal": returns.drive,
}


async def drive(rt: Runtime, operation_id: str) -> asyncpg.Record:
    async with transaction(rt.pool) as conn:
        row = await operation_rows.find_operation(conn, operation_id)
    assert row is not None
    return await DRIVERS[row["type"]](rt, operation_id)


async def recover_once(rt: Runtime, *, grace: float | None = None) -> int:
    """One round; returns how many operations it took up."""
    wait = rt.settings.recovery_grace if grace is None else grace
    async with transaction(rt.pool) as conn:
        due = await operation_rows.claim_due(conn, grace=timedelta(seconds=wait), limit=_ROUND)
    for operation_id in due:
        try:
            await drive(rt, operation_id)
        except Unavailable as exc:
            log.warning(
                "recovery step failed; next round",
                extra={"operation": operation_id, "reason": exc.message},
            )
        except Exception:  # one bad operation must not stop the others
            log.exception("recovery step failed", extra={"operation": operation_id})
    return len(due)


@asynccontextmanager
async def recovery(state: AppState) -> AsyncIterator[None]:
    rt = runtime_of(state)

    async def loop() -> None:
        while True:
            await asyncio.sleep(rt.settings.recovery_interval)
            try:
                await recover_once(rt)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.warning("recovery round failed; next round", exc_info=True)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        await stop(task)
