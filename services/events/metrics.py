"""The events service's own metrics (README, "Operations"): delivery attempts by outcome,
the lag from an event's commit to its first 2xx delivery, and the delivery backlog and
disabled endpoints (read from the database at every scrape)."""

from __future__ import annotations

import json
import time

from prometheus_client import Counter, Gauge

from services.events.repository import backlog as backlog_repo
from shared.db import after_commit
from shared.metrics import EVENT_LAG
from shared.state import AppState

DELIVERIES = Counter(
    "micro_webhook_deliveries_total",
    "Webhook delivery attempts, once recorded: succeeded, retrying (failed, tried again "
    "later), failed (no attempt left, or 410) or disabled (failed and its endpoint was "
    "disabled with it).",
    ["outcome"],
)
PENDING = Gauge(
    "micro_webhook_deliveries_pending",
    "Deliveries due or waiting for a retry (read from the database at scrape).",
)
DISABLED = Gauge(
    "micro_webhook_endpoints_disabled",
    "Webhook endpoints disabled (read from the database at scrape).",
)


def attempted(outcome: str, *, payload: str | None = None) -> None:
    """One attempt's outcome, counted once its transaction commits; a success's `payload`
    (the event) gives the lag from its commit."""

    def count() -> None:
        DELIVERIES.labels(outcome).inc()
        if payload is not None:
            created = json.loads(payload).get("created")
            if isinstance(created, int | float):
                EVENT_LAG.labels("delivered").observe(max(0.0, time.time() - created))

    after_commit(count)


async def refresh_backlog(state: AppState) -> None:
    async with state.db.acquire() as conn:
        found = await backlog_repo.backlog(conn, window_seconds=0)
    PENDING.set(found.pending)
    DISABLED.set(found.disabled_endpoints)
