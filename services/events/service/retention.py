"""The events service's own retention jobs (beside every service's idempotency results and
published outbox rows): the event log and delivery attempts."""

from __future__ import annotations

from services.events.repository import deliveries
from services.events.repository import events as event_log
from services.events.settings import EventsSettings
from shared.retention import Job
from shared.state import AppState

DAY = 86400


def _settings(state: AppState) -> EventsSettings:
    settings = state.settings
    assert isinstance(settings, EventsSettings)
    return settings


async def _events(state: AppState) -> int:
    days = _settings(state).event_log_retention_days
    return await event_log.purge(state.db, older_than_seconds=days * DAY)


async def _attempts(state: AppState) -> int:
    days = _settings(state).delivery_attempt_retention_days
    return await deliveries.purge_attempts(state.db, older_than_seconds=days * DAY)


JOBS = (Job("events", _events), Job("delivery_attempts", _attempts))
