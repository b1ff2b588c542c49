"""The events service's own retention jobs (beside every service's idempotency results and
published outbox rows): the event log and delivery attempts."""

from __future__ import annotations

from services.events.repository import deliveries as deliveries_repo
from services.events.repository import events as events_repo
from services.events.state import events_state
from shared.retention import Job
from shared.state import AppState

DAY = 86400


async def _events(state: AppState) -> int:
    days = events_state(state).settings.event_log_retention_days
    return await events_repo.purge(state.db, older_than_seconds=days * DAY)


async def _attempts(state: AppState) -> int:
    days = events_state(state).settings.delivery_attempt_retention_days
    return await deliveries_repo.purge_attempts(state.db, older_than_seconds=days * DAY)


JOBS = (Job("events", _events), Job("delivery_attempts", _attempts))
