"""What the ledger outbox holds, for the platform's operator (the dashboard's health page)."""

from __future__ import annotations

from services.payments.repository import outbox as outbox_repo
from services.payments.schemas import LedgerOutboxSummary
from shared.access import Operation, allows
from shared.db import Pool, transaction
from shared.errors import PermissionDeniedError
from shared.identity import Identity


def require_platform_admin(identity: Identity) -> None:
    if not allows(identity, Operation.MANAGE_PLATFORM):
        raise PermissionDeniedError(
            "The ledger outbox of every tenant is a platform admin's.", code="role_required"
        )


async def summary(pool: Pool, identity: Identity) -> LedgerOutboxSummary:
    require_platform_admin(identity)
    async with transaction(pool) as conn:
        found = await outbox_repo.summary(conn)
    return LedgerOutboxSummary(
        pending=found.pending,
        failed=found.failed,
        oldest_pending_seconds=found.oldest_pending_seconds,
    )
