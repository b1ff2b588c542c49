"""Recompute the ledger from its history and report every disagreement."""

from __future__ import annotations

from typing import Any

from services.ledger.repository import verification as verification_repo
from shared.access import Operation, allows
from shared.db import Connection, Pool
from shared.errors import PermissionDeniedError
from shared.identity import Identity


def require_platform_admin(identity: Identity) -> None:
    if not allows(identity, Operation.VERIFY_LEDGER):
        raise PermissionDeniedError(
            "Verifying the whole ledger needs a platform admin.", code="role_required"
        )


async def verify_ledger(pool: Pool) -> dict[str, Any]:
    """One read-only snapshot, so a busy ledger is checked as of one moment."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        return await verify(conn)


async def verify(conn: Connection) -> dict[str, Any]:
    """The report, read in the caller's transaction (`micro ledger verify` opens its own)."""
    discrepancies: list[dict[str, Any]] = []
    for posted in await verification_repo.account_totals_mismatch(conn):
        discrepancies.append(
            {
                "kind": "account_totals",
                "account_id": posted.id,
                "stored": [posted.debits_posted, posted.credits_posted],
                "from_entries": [posted.entry_debits, posted.entry_credits],
            }
        )
    for pending in await verification_repo.pending_totals_mismatch(conn):
        discrepancies.append(
            {
                "kind": "pending_totals",
                "account_id": pending.id,
                "stored": [pending.debits_pending, pending.credits_pending],
                "from_holds": [pending.hold_debits, pending.hold_credits],
            }
        )
    for transaction in await verification_repo.unbalanced_transactions(conn):
        discrepancies.append(
            {
                "kind": "unbalanced_transaction",
                "transaction_id": transaction.transaction_id,
                "currency": transaction.currency,
                "difference": transaction.difference,
            }
        )
    for books in await verification_repo.unbalanced_books(conn):
        discrepancies.append(
            {
                "kind": "unbalanced_books",
                "tenant_id": books.tenant_id,
                "livemode": books.livemode,
                "currency": books.currency,
                "difference": books.difference,
            }
        )
    for stale in await verification_repo.stale_balances_after(conn):
        discrepancies.append(
            {
                "kind": "balance_after",
                "account_id": stale.id,
                "last_entry": stale.balance_after,
                "account": stale.posted,
            }
        )
    counted = await verification_repo.counts(conn)
    return {
        "object": "ledger.verification",
        "ok": not discrepancies,
        "accounts": counted.accounts,
        "transactions": counted.transactions,
        "entries": counted.entries,
        "discrepancies": discrepancies,
    }
