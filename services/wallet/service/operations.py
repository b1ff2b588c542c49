"""What every money movement shares: its operation row, history rows, one driver at a time,
and a final state written once with its event.

An operation is written (pending) before anything moves, and each remote step is idempotent
(ledger reference = operation id, payments Idempotency-Key derived from it), so the request
that started it, a client retry and the recovery job can all drive it. One drives at a
time: a driver leases the operation (`driving`), calls the ledger or payments with no
transaction open, then writes what it learned in a short transaction of its own
(`Driver.apply`), only while the lease is still its own. A crash between a call and its
write leaves the operation pending at the step it reached; once the lease runs out the
recovery job takes it up and repeats the step. A finished operation is never settled again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.wallet.errors import DriverReplacedError, OperationNotFoundError
from services.wallet.repository import history as history_repo
from services.wallet.repository import operations as operations_repo
from services.wallet.repository import wallets as wallets_repo
from services.wallet.repository.operations import OperationRow, OperationType
from services.wallet.repository.wallets import WalletRow
from services.wallet.schemas import TransactionFilters, WalletOperation, WalletTransaction
from services.wallet.service import access
from services.wallet.state import WalletState
from shared import outbox
from shared.context import current_idempotency_key
from shared.db import Connection, Pool, transaction
from shared.errors import IdempotencyError
from shared.identity import Identity
from shared.ids import new_id
from shared.internal_client import Scope, Unavailable
from shared.pagination import page

log = logging.getLogger("micro.wallet.operations")

FINAL = frozenset({"succeeded", "failed"})
# (wallet id, history type, counterparty) per wallet the operation touches.
HistoryLine = tuple[str, str, str | None]
# Seconds between two looks at an operation another driver holds.
_LEASE_POLL = 0.05


async def start(
    conn: Connection,
    identity: Identity,
    *,
    type: OperationType,
    wallet: WalletRow,
    amount: int,
    history: Sequence[HistoryLine],
    to_wallet: WalletRow | None = None,
    description: str | None = None,
    provider: str | None = None,
    payment_method: str | None = None,
    destination: dict[str, Any] | None = None,
    lease: Lease | None = None,
) -> OperationRow:
    """The pending operation and its history rows; the existing operation when a request
    with the same Idempotency-Key runs again (after a crash released its key). With
    `lease`, a new operation is written already leased to it (`driving(..., lease=)` then
    drives it without taking the lease in a transaction of its own)."""
    row, new = await operations_repo.insert_operation(
        conn,
        id=new_id("wop"),
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        type=type,
        wallet_id=wallet.id,
        to_wallet_id=to_wallet.id if to_wallet is not None else None,
        amount=amount,
        currency=wallet.currency,
        description=description,
        provider=provider,
        payment_method=payment_method,
        destination=destination,
        idempotency_key=_scoped_key(identity),
        driver=lease.token if lease is not None else None,
        lease=lease.length if lease is not None else None,
    )
    if new:
        await history_repo.insert_lines(conn, row, [(new_id("wtx"), *line) for line in history])
    elif (row.type, row.wallet_id, row.to_wallet_id, row.amount) != (
        type, wallet.id, to_wallet.id if to_wallet is not None else None, amount,
    ):  # fmt: skip
        # The request's stored answer is gone (older than a day) and the key came back
        # with another movement: refuse it rather than answer with the old one.
        raise IdempotencyError(
            "Keys for idempotent requests can only be used with the same parameters they "
            "were first used with.",
            code="idempotency_key_reused",
        )
    return row


def _scoped_key(identity: Identity) -> str | None:
    """The client's key, per caller: two users of one tenant may pick the same key."""
    key = current_idempotency_key()
    return f"{identity.principal}:{key}" if key else None


def scope_of(row: OperationRow) -> Scope:
    return Scope(row.tenant_id, row.livemode)


@dataclass(frozen=True, slots=True)
class Lease:
    """A driver's lease, taken with the operation's own insert (`start`)."""

    token: str
    length: timedelta

    @classmethod
    def new(cls, state: WalletState) -> Lease:
        return cls(new_id("drv"), timedelta(seconds=state.settings.driver_lease))


class Driver:
    """The one driver of an operation, between its writes. `row` is the operation as last
    read or written; `leased` is False when it was final already (nothing to drive)."""

    def __init__(self, state: WalletState, row: OperationRow, *, token: str | None) -> None:
        self.pool = state.pool
        self.lease = timedelta(seconds=state.settings.driver_lease)
        self.row = row
        self.token = token
        # Whether the lease was let go with a final write (then not again after the block).
        self.released = False

    @property
    def leased(self) -> bool:
        return self.token is not None

    async def apply(self, write: Write) -> OperationRow:
        """Write a step's outcome in a transaction of its own, the operation locked and its
        lease renewed; DriverReplacedError if another driver took it over meanwhile. A
        write that makes the operation final lets the lease go in the same transaction."""
        assert self.token is not None, "a final operation is not driven"
        async with transaction(self.pool) as conn:
            row = await operations_repo.renew_lease(
                conn, self.row.id, driver=self.token, lease=self.lease
            )
            if row is None:
                raise DriverReplacedError(self.row.id)
            self.row = await write(conn, row)
            if self.row.status in FINAL:
                await operations_repo.release_lease(conn, self.row.id, driver=self.token)
                self.released = True
        return self.row


# A step's write: the connection of its transaction and the locked operation, in; the
# operation as written, out.
Write = Callable[[Connection, OperationRow], Awaitable[OperationRow]]


@asynccontextmanager
async def driving(
    state: WalletState, operation_id: str, *, taken: tuple[OperationRow, Lease] | None = None
) -> AsyncIterator[Driver]:
    """Lease the operation for one driver (waiting while another holds it), released when
    the block ends (or by the write that made it final); a final operation is handed over
    unleased. `taken`: the operation as `start` wrote it and the lease it was given; when
    the row holds that lease (a new operation, not one made before under the same key), it
    is driven without a transaction to take the lease."""
    if taken is not None and taken[0].driver == taken[1].token and taken[0].id == operation_id:
        row, token = taken[0], taken[1].token
    else:
        row, took = await _take(state, operation_id)
        if took is None:
            yield Driver(state, row, token=None)
            return
        token = took
    driver = Driver(state, row, token=token)
    try:
        yield driver
    finally:
        if not driver.released:
            async with transaction(state.pool) as conn:
                await operations_repo.release_lease(conn, operation_id, driver=token)


async def _take(state: WalletState, operation_id: str) -> tuple[OperationRow, str | None]:
    """(the operation, the token of the lease taken on it), waiting while another driver
    holds it; no token when the operation is final."""
    token = new_id("drv")
    lease = timedelta(seconds=state.settings.driver_lease)
    while True:
        async with transaction(state.pool) as conn:
            leased = await operations_repo.take_lease(conn, operation_id, driver=token, lease=lease)
            row = (
                leased
                if leased is not None
                else await operations_repo.find_operation(conn, operation_id)
            )
        if row is None:
            raise OperationNotFoundError(operation_id)
        if leased is not None:
            return leased, token
        if row.status in FINAL:
            return row, None
        await asyncio.sleep(_LEASE_POLL)  # another driver is on it: see what it makes of it


async def wallet_of(conn: Connection, operation: OperationRow, wallet_id: str) -> WalletRow:
    row = await wallets_repo.get_wallet(
        conn, wallet_id=wallet_id, livemode=operation.livemode, tenant_id=operation.tenant_id
    )
    assert row is not None, "an operation's wallets are never deleted"
    return row


async def finish(
    conn: Connection,
    operation: OperationRow,
    status: str,
    *,
    event: str | None = None,
    failure: tuple[str, str] | None = None,
    balances: dict[str, int] | None = None,
    counterparty: str | None = None,
    **changes: Any,
) -> OperationRow:
    """Write the final state (once: callers hold the lock and saw it pending) and its event."""
    assert operation.status == "pending"
    if failure is not None:
        changes["failure_code"], changes["failure_message"] = failure
    updated = await operations_repo.update_operation(
        conn, operation.id, status=status, stage="done", next_action=None, **changes
    )
    await history_repo.settle_lines(
        conn, operation.id, status=status, balances=balances, counterparty=counterparty
    )
    if event is not None:
        await emit(conn, updated, event)
    return updated


async def emit(conn: Connection, operation: OperationRow, event: str) -> None:
    await outbox.emit(
        conn,
        None,
        type=event,
        data=WalletOperation.from_row(operation),
        tenant_id=operation.tenant_id,
        livemode=operation.livemode,
    )


def balance_after(transaction: dict[str, Any], account_id: str) -> int | None:
    """The account's posted balance after its entry in a ledger transaction."""
    for entry in transaction.get("entries") or []:
        if entry["account_id"] == account_id and not entry.get("pending"):
            return int(entry["balance_after"])
    return None


async def current(pool: Pool, operation_id: str) -> OperationRow:
    async with transaction(pool) as conn:
        row = await operations_repo.find_operation(conn, operation_id)
    if row is None:
        raise OperationNotFoundError(operation_id)
    return row


async def still_pending(pool: Pool, operation_id: str, exc: Unavailable) -> OperationRow:
    """A step could not reach an upstream: the operation stays pending for the recovery job."""
    log.warning(
        "wallet operation left pending", extra={"operation": operation_id, "reason": exc.message}
    )
    return await current(pool, operation_id)


async def get_operation(pool: Pool, identity: Identity, operation_id: str) -> WalletOperation:
    async with transaction(pool) as conn:
        row = await operations_repo.get_operation(
            conn,
            operation_id=operation_id,
            livemode=identity.livemode,
            tenant_id=access.tenant_scope(identity),
        )
        if row is None or not await _sees(conn, identity, row):
            raise OperationNotFoundError(operation_id)
    return WalletOperation.from_row(row)


async def _sees(conn: Connection, identity: Identity, row: OperationRow) -> bool:
    owner = access.owner_scope(identity)
    if owner is None:
        return True
    for wallet_id in (row.wallet_id, row.to_wallet_id):
        if wallet_id is not None and await wallets_repo.get_wallet(
            conn, wallet_id=wallet_id, livemode=row.livemode, tenant_id=row.tenant_id,
            owner=owner,
        ) is not None:  # fmt: skip
            return True
    return False


async def history(
    pool: Pool, identity: Identity, wallet_id: str, *, filters: TransactionFilters
) -> tuple[list[WalletTransaction], bool]:
    conditions: list[tuple[str, Any]] = []
    if filters.type:
        conditions.append(("type", filters.type))
    if filters.status:
        conditions.append(("status", filters.status))
    async with transaction(pool) as conn:
        await access.readable_wallet(conn, identity, wallet_id)
        lines = await history_repo.list_lines(
            conn, wallet_id=wallet_id, params=filters, filters=conditions
        )
    shown, has_more = page(lines, filters)
    return [WalletTransaction.from_row(row) for row in shown], has_more
