"""Payments' own metrics (README, "Operations"): intents by the status they moved to,
provider calls by outcome and their latency, and postings owed to the ledger."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Histogram

from services.payments.providers.base import Outcome, RefundOutcome, TransferOutcome
from services.payments.providers.http import ProviderTimeout, timed_out
from services.payments.repository import outbox as outbox_repo
from shared.db import after_commit
from shared.metrics import POSTINGS_OLDEST, POSTINGS_PENDING
from shared.outbox import mode
from shared.state import AppState

INTENTS = Counter(
    "micro_payment_intents_total",
    "Payment intents moved to a status (counted once committed), by provider and mode.",
    ["status", "provider", "mode"],
)
PROVIDER_REQUESTS = Counter(
    "micro_provider_requests_total",
    "Calls to a payment provider by operation and outcome (ok, declined, error, timeout).",
    ["provider", "operation", "outcome"],
)
PROVIDER_LATENCY = Histogram(
    "micro_provider_request_duration_seconds",
    "Time a payment provider took to answer one operation.",
    ["provider", "operation"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def intent_moved(status: str, *, provider: str, livemode: bool) -> None:
    """An intent now has `status`: counted once the transaction commits."""
    after_commit(lambda: INTENTS.labels(status, provider, mode(livemode)).inc())


_OPERATIONS = {
    "authorize": "charge",
    "verify": "lookup",
    "transfer": "payout",
    "verify_transfer": "payout_lookup",
    "refund": "refund",
    "verify_refund": "refund_lookup",
    "list_settled": "list",
}


def _outcome(answer: Any) -> str:
    if isinstance(answer, Outcome) and answer.kind == "declined":
        return "declined"
    if isinstance(answer, TransferOutcome | RefundOutcome) and answer.kind == "failed":
        return "declined"
    return "ok"


class MeasuredProvider:
    """A remote provider whose every operation is counted and timed."""

    def __init__(self, provider: Any) -> None:
        self._provider = provider
        self.name: str = provider.name
        self.hosted: bool = provider.hosted
        self.in_process: bool = provider.in_process

    def __getattr__(self, attribute: str) -> Any:
        found = getattr(self._provider, attribute)
        operation = _OPERATIONS.get(attribute)
        if operation is None:
            return found

        async def measured(*args: Any, **kwargs: Any) -> Any:
            cell: list[str] = []
            token = timed_out.set(cell)
            started = time.perf_counter()
            outcome = "error"
            try:
                answer = await found(*args, **kwargs)
                outcome = cell[-1] if cell else _outcome(answer)
                return answer
            except ProviderTimeout:
                outcome = cell[-1] if cell else "timeout"
                raise
            finally:
                timed_out.reset(token)
                PROVIDER_LATENCY.labels(self.name, operation).observe(time.perf_counter() - started)
                PROVIDER_REQUESTS.labels(self.name, operation, outcome).inc()

        return measured


async def refresh_ledger_outbox(state: AppState) -> None:
    """The postings owed to the ledger, and those it refused, as the database has them."""
    from services.payments.service.ledger_relay import FAILED  # the relay sets it too

    async with state.db.acquire() as conn:
        found = await outbox_repo.summary(conn)
    POSTINGS_PENDING.labels(state.settings.service).set(found.pending)
    POSTINGS_OLDEST.labels(state.settings.service).set(found.oldest_pending_seconds or 0.0)
    FAILED.labels(state.settings.service).set(found.failed)
