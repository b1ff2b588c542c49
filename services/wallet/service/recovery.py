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

from services.wallet.repository import operations as operations_repo
from services.wallet.repository.operations import OperationRow
from services.wallet.service import deposits, returns, transfers, withdrawals
from services.wallet.state import WalletState
from shared.aio import stop
from shared.db import transaction
from shared.internal_client import Unavailable

log = logging.getLogger("micro.wallet.recovery")

_ROUND = 100
DRIVERS: dict[str, Callable[[WalletState, str], Awaitable[OperationRow]]] = {
    "deposit": deposits.drive,
    "transfer": transfers.drive,
    "withdrawal": withdrawals.drive,
    "refund": returns.drive,
    "reversal": returns.drive,
}


async def drive(state: WalletState, operation_id: str) -> OperationRow:
    async with transaction(state.pool) as conn:
        row = await operations_repo.find_operation(conn, operation_id)
    assert row is not None
    return await DRIVERS[row.type](state, operation_id)


async def recover_once(state: WalletState, *, grace: float | None = None) -> int:
    """One round; returns how many operations it took up."""
    wait = state.settings.recovery_grace if grace is None else grace
    async with transaction(state.pool) as conn:
        due = await operations_repo.claim_due(conn, grace=timedelta(seconds=wait), limit=_ROUND)
    for operation_id in due:
        try:
            await drive(state, operation_id)
        except Unavailable as exc:
            log.warning(
                "recovery step failed; next round",
                extra={"operation": operation_id, "reason": exc.message},
            )
        except Exception:  # one bad operation must not stop the others
            log.exception("recovery step failed", extra={"operation": operation_id})
    return len(due)


@asynccontextmanager
async def recovery(state: WalletState) -> AsyncIterator[None]:
    """The recovery job, run every `recovery_interval` seconds while the block lasts."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(state.settings.recovery_interval)
            try:
                await recover_once(state)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.warning("recovery round failed; next round", exc_info=True)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        await stop(task)
