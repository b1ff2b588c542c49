"""The ledger's events (`ledger.transaction.*`, when `transaction_events` is on), written in
the posting's own transaction so an event exists exactly when its transaction does."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from services.ledger.repository.rows import NewEntry, NewTransaction
from services.ledger.schemas.transactions import Transaction
from shared import outbox
from shared.db import Connection
from shared.identity import Identity


async def transactions_created(
    conn: Connection,
    identity: Identity,
    transactions: Sequence[NewTransaction],
    entries: Iterable[NewEntry],
    written: dict[str, datetime],
) -> None:
    """One `ledger.transaction.created` per new transaction, as plain dicts: a batch of
    1,000 should not pay for 1,000 response models nobody asked for."""
    by_txn: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_txn.setdefault(entry.transaction_id, []).append(
            {
                "account_id": entry.account_id,
                "direction": entry.direction,
                "amount": entry.amount,
                "currency": entry.currency,
                "pending": entry.pending,
            }
        )
    await outbox.emit_many(
        conn,
        identity,
        [
            (
                "ledger.transaction.created",
                {
                    "id": txn.id,
                    "object": "ledger.transaction",
                    "reference_id": txn.reference_id,
                    "description": txn.description,
                    "metadata": txn.metadata,
                    "status": "pending" if txn.kind == "pending" else "posted",
                    "entries": by_txn.get(txn.id, []),
                    "livemode": identity.livemode,
                    "created": int(written[txn.id].timestamp()),
                },
            )
            for txn in transactions
        ],
    )


async def transaction_settled(
    conn: Connection, identity: Identity, kind: str, transaction: Transaction
) -> None:
    """`ledger.transaction.posted|voided|expired|reversed`: the new record that settled it."""
    await outbox.emit(conn, identity, type=f"ledger.transaction.{kind}", data=transaction)
