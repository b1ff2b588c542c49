"""Reading transactions back with their entries and derived status."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from services.ledger.errors import TransactionNotFoundError
from services.ledger.repository import entries as entries_repo
from services.ledger.repository import transactions as transactions_repo
from services.ledger.repository.rows import EntryRow, TransactionRow
from services.ledger.schemas.transactions import (
    Entry,
    Transaction,
    TransactionFilters,
    TransactionStatus,
)
from services.ledger.state import LedgerState
from shared.db import Connection, transaction
from shared.identity import Identity
from shared.pagination import page
from shared.timeutil import unix


async def get_transaction(
    ledger: LedgerState, identity: Identity, transaction_id: str
) -> Transaction:
    async with transaction(ledger.pool) as conn:
        return await read_transaction(conn, identity, transaction_id)


async def list_transactions(
    ledger: LedgerState, identity: Identity, *, params: TransactionFilters
) -> tuple[list[Transaction], bool]:
    async with transaction(ledger.pool) as conn:
        found = await transactions_repo.list_page(
            conn,
            tenant_id=identity.tenant_scope,
            livemode=identity.livemode,
            params=params,
            account_id=params.account_id,
            reference_id=params.reference_id,
            created_gte=params.created_gte,
            created_lte=params.created_lte,
        )
        shown, has_more = page(found, params)
        return await _render(conn, shown), has_more


async def read_transaction(
    conn: Connection, identity: Identity, transaction_id: str
) -> Transaction:
    """In the caller's transaction: settling one answers with what it wrote."""
    found = await transactions_repo.get(
        conn,
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        transaction_id=transaction_id,
    )
    if found is None:
        raise TransactionNotFoundError(transaction_id)
    [read] = await _render(conn, [found])
    return read


def status_of(txn: TransactionRow) -> TransactionStatus:
    if txn.kind != "pending":
        return "posted"
    if txn.outcome == "posted":
        return "archived"
    if txn.outcome in ("voided", "expired"):
        return "voided" if txn.outcome == "voided" else "expired"
    if txn.expires_at is not None and txn.expires_at <= datetime.now(UTC):
        # Lapsed: it no longer holds funds, even before the sweeper records it.
        return "expired"
    return "pending"


async def _render(conn: Connection, transactions: Sequence[TransactionRow]) -> list[Transaction]:
    entries: dict[str, list[Entry]] = {}
    for entry in await entries_repo.of_transactions(conn, [txn.id for txn in transactions]):
        entries.setdefault(entry.transaction_id, []).append(entry_of(entry))
    return [
        Transaction(
            id=txn.id,
            reference_id=txn.reference_id,
            description=txn.description,
            metadata=txn.metadata,
            kind=txn.kind,
            status=status_of(txn),
            expires_at=unix(txn.expires_at) if txn.expires_at else None,
            parent_id=txn.parent_id,
            posted_by=txn.posting_id,
            reversed_by=txn.reversed_by,
            entries=entries.get(txn.id, []),
            livemode=txn.livemode,
            created=unix(txn.created_at),
        )
        for txn in transactions
    ]


def entry_of(entry: EntryRow) -> Entry:
    return Entry(
        id=entry.id,
        transaction_id=entry.transaction_id,
        account_id=entry.account_id,
        direction=entry.direction,
        amount=entry.amount,
        currency=entry.currency,
        pending=entry.pending,
        balance_after=entry.balance_after,
        version_after=entry.version_after,
        created=unix(entry.created_at),
    )
