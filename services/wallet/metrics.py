"""The wallet's own metrics (README, "Operations"): postings it owes the ledger, read from
the database at every scrape."""

from __future__ import annotations

from services.wallet.repository import operations as operations_repo
from shared.metrics import POSTINGS_OLDEST, POSTINGS_PENDING
from shared.state import AppState


async def refresh_ledger_backlog(state: AppState) -> None:
    async with state.db.acquire() as conn:
        pending, oldest = await operations_repo.ledger_backlog(conn)
    POSTINGS_PENDING.labels(state.settings.service).set(pending)
    POSTINGS_OLDEST.labels(state.settings.service).set(oldest or 0.0)
