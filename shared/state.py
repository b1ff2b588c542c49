"""What the lifespan opens once per process, reached from a request as `request.state`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from starlette.requests import HTTPConnection

from shared.db import Pool
from shared.errors import ApiError
from shared.settings import DatabaseSettings, ServiceSettings

STATE_KEY = "micro"


@dataclass(slots=True)
class AppState:
    settings: ServiceSettings
    redis: aioredis.Redis
    pool: Pool | None = None
    # Per-service extras opened in the same lifespan (HTTP clients, relays, ...).
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def db(self) -> Pool:
        if self.pool is None:
            raise ApiError(f"{self.settings.service} has no database")
        return self.pool

    @property
    def db_settings(self) -> DatabaseSettings:
        assert isinstance(self.settings, DatabaseSettings)
        return self.settings


def app_state(conn: HTTPConnection) -> AppState:
    state = getattr(conn.state, STATE_KEY, None)
    if not isinstance(state, AppState):
        raise ApiError("The application has not finished starting.")
    return state
