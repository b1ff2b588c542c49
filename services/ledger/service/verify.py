"""Recompute the ledger from its history and report every disagreement."""

from __future__ import annotations

from typing import Any

from services.ledger.repository import verification
from shared.access import Operation, allows
from shared.db import Connection
from shared.errors import PermissionDeniedError
from shared.identity import Identity


def require_platform_admin(identity: Identity) -> None:
    if not allows(identity, Operation.VERIFY_LEDGER):
        raise PermissionDeniedError(
            "Verifying the whole ledger needs a platform admin.", code="role_required"
        )


async def verify(conn: Connection) -> dict[str, Any]:
    discrepancies: list[dict[str, Any]] = []
    for row in await verification.account_totals_mismatch(conn):
        discrepancies.append(
            {
                "kind": "account_totals",
                "account_id": row["id"],
                "stored": [row["debits_posted"], row["credits_posted"]],
                "from_entries": [row["entry_debits"], row["entry_credits"]],
            }
        )
    for row in await verification.pending_totals_mismatch(conn):
        discrepancies.append(
            {
                "kind": "pending_totals",
                "account_id": row["id"],
                "stored": [row["debits_pending"], row["credits_pending"]],
                "from_holds": [row["hold_debits"], row["hold_credits"]],
            }
        )
    for row in await verification.unbalanced_transactions(conn):
        discrepancies.append(
            {
                "kind": "unbalanced_transaction",
                "transaction_id": row["transaction_id"],
                "currency": row["currency"],
                "difference": row["difference"],
            }
        )
    for row in await verification.unbalanced_books(conn):
        discrepancies.append(
            {
                "kind": "unbalanced_books",
                "tenant_id": row["tenant_id"],
                "livemode": row["livemode"],
                "currency": row["currency"],
                "difference": row["difference"],
            }
        )
    for row in await verification.stale_balances_after(conn):
        discrepancies.append(
            {
                "kind": "balance_after",
                "account_id": row["id"],
                "last_entry": row["balance_after"],
                "account": row["posted"],
            }
        )
    totals = await verification.counts(conn)
    return {
        "object": "ledger.verification",
        "ok": not discrepancies,
        "accounts": totals["accounts"],
        "transactions": totals["transactions"],
        "entries": totals["entries"],
        "discrepancies": discrepancies,
    }
