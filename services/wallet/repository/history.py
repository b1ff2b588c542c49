"""The `wallet_transactions` table: a wallet's history, one line per wallet an operation
touches (a transfer has two), settled with its operation."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from services.wallet.repository.operations import OperationRow, OperationStatus
from shared.db import Connection
from shared.pagination import ListParams, keyset
from shared.rows import rows

_COLUMNS = """
    id, tenant_id, livemode, wallet_id, operation_id, type, counterparty, amount, currency,
    status, balance_after, description, created_at
"""

# The column's CHECK.
TransactionType = Literal[
    "deposit", "transfer_in", "transfer_out", "withdrawal", "refund", "reversal"
]


@dataclass(frozen=True, slots=True)
class HistoryRow:
    id: str
    tenant_id: str
    livemode: bool
    wallet_id: str
    operation_id: str
    type: TransactionType
    counterparty: str | None
    amount: int
    currency: str
    status: OperationStatus
    balance_after: int | None
    description: str | None
    created_at: datetime


async def insert_lines(
    conn: Connection,
    operation: OperationRow,
    entries: Sequence[tuple[str, str, str, str | None]],
) -> None:
    """History lines of the operation: (line id, wallet id, type, counterparty) each."""
    await conn.executemany(
        "INSERT INTO wallet_transactions (id, tenant_id, livemode, wallet_id, operation_id, "
        "type, counterparty, amount, currency, status, description) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        [
            (
                line_id,
                operation.tenant_id,
                operation.livemode,
                wallet_id,
                operation.id,
                type,
                counterparty,
                operation.amount,
                operation.currency,
                operation.status,
                operation.description,
            )
            for line_id, wallet_id, type, counterparty in entries
        ],
    )


async def settle_lines(
    conn: Connection,
    operation_id: str,
    *,
    status: str,
    balances: dict[str, int] | None = None,
    counterparty: str | None = None,
) -> None:
    """Set the status of the operation's history lines, with each wallet's balance after."""
    await conn.execute(
        "UPDATE wallet_transactions SET status = $2, "
        "balance_after = COALESCE(($3::jsonb ->> wallet_id)::bigint, balance_after), "
        "counterparty = COALESCE($4, counterparty) WHERE operation_id = $1",
        operation_id,
        status,
        json.dumps(balances or {}),
        counterparty,
    )


async def list_lines(
    conn: Connection,
    *,
    wallet_id: str,
    params: ListParams,
    filters: Sequence[tuple[str, Any]] = (),
) -> list[HistoryRow]:
    """One page of the wallet's lines in walking order; `filters` are (column, value)."""
    op, order = keyset(params)
    args: list[Any] = [wallet_id, params.cursor, params.fetch]
    extra = ""
    for column, value in filters:
        args.append(value)
        extra += f" AND {column} = ${len(args)}"
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM wallet_transactions WHERE wallet_id = $1 "
        f"AND ($2::text IS NULL OR id {op} $2){extra} ORDER BY id {order} LIMIT $3",
        *args,
    )
    return rows(HistoryRow, map(dict, records))
