from __future__ import annotations

from shared.settings import DatabaseSettings


class EventsSettings(DatabaseSettings):
    service = "events"
