"""What every money movement shares: its operation row, history rows, one driver at a time,
and a final state written once with its event.

An operation is written (pending) before anything moves, and each remote step is idempotent
(ledger reference = operation id, payments Idempotency-Key derived from it), so the request
that started it, a client retry and the recovery job can all drive it: whoever holds the
row lock takes the next step, and a finished operation is never settled again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from services.wallet.clients import Scope
from services.wallet.errors import OperationNotFoundError, UpstreamUnavailableError
from services.wallet.repository import operations as operation_rows
from services.wallet.repository import wallets as wallet_rows
from services.wallet.schemas import TransactionFilters, WalletOperation, WalletTransaction
from services.wallet.service import access
from shared import outbox
from shared.context import current_idempotency_key
from shared.db import Connection, Pool, transaction
from shared.errors import IdempotencyError
from shared.identity import Identity
from shared.ids import new_id
from shared.pagination import page

log = logging.getLogger("micro.wallet.operations")

FINAL = frozenset({"succeeded", "failed"})
# (wallet id, history type, counterparty) per wallet the operation touches.
HistoryLine = tuple[str, str, str | None]


async def start(
    conn: Connection,
    identity: Identity,
    *,
    type: str,
    wallet: asyncpg.Record,
    amount: int,
    history: Sequence[HistoryLine],
    to_wallet: asyncpg.Record | None = None,
    description: str | None = None,
    provider: str | None = None,
    payment_method: str | None = None,
    destination: dict[str, Any] | None = None,
) -> asyncpg.Record:
    """The pending operation and its history rows; the existing operation when a request
    with the same Idempotency-Key runs again (after a crash released its key)."""
    row, new = await operation_rows.insert_operation(
        conn,
        id=new_id("wop"),
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        type=type,
        wallet_id=wallet["id"],
        to_wallet_id=to_wallet["id"] if to_wallet is not None else None,
        amount=amount,
        currency=wallet["currency"],
        description=description,
        provider=provider,
        payment_method=payment_method,
        destination=destination,
        idempotency_key=_scoped_key(identity),
    )
    if new:
        await operation_rows.insert_history(conn, row, [(new_id("wtx"), *line) for line in history])
    elif (row["type"], row["wallet_id"], row["to_wallet_id"], row["amount"]) != (
        type, wallet["id"], to_wallet["id"] if to_wallet is not None else None, amount,
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


def scope_of(row: asyncpg.Record) -> Scope:
    return Scope(row["tenant_id"], row["livemode"])


@asynccontextmanager
async def locked(pool: Pool, operation_id: str) -> AsyncIterator[tuple[Connection, asyncpg.Record]]:
    """The operation locked for one step; the step's writes commit when the block ends."""
    async with transaction(pool) as conn:
        row = await operation_rows.lock_operation(conn, operation_id)
        if row is None:
            raise OperationNotFoundError(operation_id)
        yield conn, row


async def wallet_of(conn: Connection, operation: asyncpg.Record, wallet_id: str) -> asyncpg.Record:
    row = await wallet_rows.get_wallet(
        conn, wallet_id=wallet_id, livemode=operation["livemode"], tenant_id=operation["tenant_id"]
    )
    assert row is not None, "an operation's wallets are never deleted"
    return row


async def finish(
    conn: Connection,
    operation: asyncpg.Record,
    status: str,
    *,
    event: str | None = None,
    failure: tuple[str, str] | None = None,
    balances: dict[str, int] | None = None,
    counterparty: str | None = None,
    **changes: Any,
) -> asyncpg.Record:
    """Write the final state (once: callers hold the lock and saw it pending) and its event."""
    assert operation["status"] == "pending"
    if failure is not None:
        changes["failure_code"], changes["failure_message"] = failure
    updated = await operation_rows.update_operation(
        conn, operation["id"], status=status, stage="done", next_action=None, **changes
    )
    await operation_rows.settle_history(
        conn, operation["id"], status=status, balances=balances, counterparty=counterparty
    )
    if event is not None:
        await emit(conn, updated, event)
    return updated


async def emit(conn: Connection, operation: asyncpg.Record, event: str) -> None:
    await outbox.emit(
        conn,
        None,
        type=event,
        data=WalletOperation.from_row(operation),
        tenant_id=operation["tenant_id"],
        livemode=operation["livemode"],
    )


def balance_after(transaction: dict[str, Any], account_id: str) -> int | None:
    """The account's posted balance after its entry in a ledger transaction."""
    for entry in transaction.get("entries") or []:
        if entry["account_id"] == account_id and not entry.get("pending"):
            return int(entry["balance_after"])
    return None


async def current(pool: Pool, operation_id: str) -> asyncpg.Record:
    async with transaction(pool) as conn:
        row = await operation_rows.find_operation(conn, operation_id)
    if row is None:
        raise OperationNotFoundError(operation_id)
    return row


async def still_pending(
    pool: Pool, operation_id: str, exc: UpstreamUnavailableError
) -> asyncpg.Record:
    """A step could not reach an upstream: the operation stays pending for the recovery job."""
    log.warning(
        "wallet operation left pending", extra={"operation": operation_id, "reason": exc.message}
    )
    return await current(pool, operation_id)


async def get_operation(conn: Connection, identity: Identity, operation_id: str) -> WalletOperation:
    row = await operation_rows.get_operation(
        conn,
        operation_id=operation_id,
        livemode=identity.livemode,
        tenant_id=access.tenant_scope(identity),
    )
    if row is None or not await _sees(conn, identity, row):
        raise OperationNotFoundError(operation_id)
    return WalletOperation.from_row(row)


async def _sees(conn: Connection, identity: Identity, row: asyncpg.Record) -> bool:
    owner = access.owner_scope(identity)
    if owner is None:
        return True
    for wallet_id in (row["wallet_id"], row["to_wallet_id"]):
        if wallet_id is not None and await wallet_rows.get_wallet(
            conn, wallet_id=wallet_id, livemode=row["livemode"], tenant_id=row["tenant_id"],
            owner=owner,
        ):  # fmt: skip
            return True
    return False


async def history(
    conn: Connection, identity: Identity, wallet_id: str, *, filters: TransactionFilters
) -> tuple[list[WalletTransaction], bool]:
    await access.readable_wallet(conn, identity, wallet_id)
    conditions: list[tuple[str, Any]] = []
    if filters.type:
        conditions.append(("type", filters.type))
    if filters.status:
        conditions.append(("status", filters.status))
    rows = await operation_rows.list_history(
        conn, wallet_id=wallet_id, params=filters, filters=conditions
    )
    shown, has_more = page(rows, filters)
    return [WalletTransaction.from_row(row) for row in shown], has_more
