"""Reading transactions back with their entries and derived status."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from services.ledger.errors import TransactionNotFoundError
from services.ledger.repository import transactions as transaction_rows
from services.ledger.schemas.transactions import (
    Entry,
    Transaction,
    TransactionFilters,
    TransactionStatus,
)
from shared.db import Connection
from shared.identity import Identity
from shared.pagination import page
from shared.timeutil import unix


def status_of(row: asyncpg.Record) -> TransactionStatus:
    if row["kind"] != "pending":
        return "posted"
    outcome = row["outcome"]
    if outcome == "posted":
        return "archived"
    if outcome in ("voided", "expired"):
        return "voided" if outcome == "voided" else "expired"
    if row["expires_at"] is not None and row["expires_at"] <= datetime.now(UTC):
        # Lapsed: it no longer holds funds, even before the sweeper records it.
        return "expired"
    return "pending"


async def render(conn: Connection, rows: Sequence[asyncpg.Record]) -> list[Transaction]:
    entries: dict[str, list[Entry]] = {}
    for entry in await transaction_rows.entries_of(conn, [row["id"] for row in rows]):
        entries.setdefault(entry["transaction_id"], []).append(Entry.from_row(entry))
    return [
        Transaction(
            id=row["id"],
            reference_id=row["reference_id"],
            description=row["description"],
            metadata=json.loads(row["metadata"]),
            kind=row["kind"],
            status=status_of(row),
            expires_at=unix(row["expires_at"]) if row["expires_at"] else None,
            parent_id=row["parent_id"],
            posted_by=row["posting_id"],
            reversed_by=row["reversed_by"],
            entries=entries.get(row["id"], []),
            livemode=row["livemode"],
            created=unix(row["created_at"]),
        )
        for row in rows
    ]


async def get_transaction(conn: Connection, identity: Identity, transaction_id: str) -> Transaction:
    row = await transaction_rows.get(
        conn,
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        transaction_id=transaction_id,
    )
    if row is None:
        raise TransactionNotFoundError(transaction_id)
    [transaction] = await render(conn, [row])
    return transaction


async def list_transactions(
    conn: Connection,
    identity: Identity,
    *,
    params: TransactionFilters,
) -> tuple[list[Transaction], bool]:
    rows = await transaction_rows.list_page(
        conn,
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        params=params,
        account_id=params.account_id,
        reference_id=params.reference_id,
        created_gte=params.created_gte,
        created_lte=params.created_lte,
    )
    shown, has_more = page(rows, params)
    return await render(conn, shown), has_more
