"""The ledger's own metrics (README, "Operations"): transactions by outcome, and what the
last periodic `ledger verify` found (read from the database at every scrape, so every
replica reports the same figures)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge

from services.ledger.repository import verification as verification_repo
from shared.outbox import mode
from shared.state import AppState

TRANSACTIONS = Counter(
    "micro_ledger_transactions_total",
    "Transactions asked of the ledger, once answered: posted (committed), replayed (the "
    "reference was posted before) or refused (4xx).",
    ["outcome", "mode"],
)
VERIFY_DISCREPANCIES = Gauge(
    "micro_ledger_verify_discrepancies",
    "Discrepancies the last periodic `ledger verify` found (0: the books agree).",
)
VERIFY_LAST_SUCCESS = Gauge(
    "micro_ledger_verify_last_success_timestamp_seconds",
    "Unix time the last periodic `ledger verify` finished.",
)

_OUTCOMES = {"created": "posted", "exists": "replayed", "failed": "refused"}


def answered(statuses: Iterable[str], *, livemode: bool) -> None:
    """Results of committed work (the coalescer's or a batch's), by their status."""
    for status in statuses:
        TRANSACTIONS.labels(_OUTCOMES[status], mode(livemode)).inc()


async def refresh_verify(state: AppState) -> None:
    async with state.db.acquire() as conn:
        last = await verification_repo.last_run(conn)
    if last is not None:
        VERIFY_DISCREPANCIES.set(last.discrepancies)
        VERIFY_LAST_SUCCESS.set(last.finished_at.timestamp())
