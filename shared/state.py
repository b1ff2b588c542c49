"""What the lifespan opens once per process, reached from a request as `request.state`.

Two layers: `AppState` is what every app has (settings, Redis, the pool, the outbox relay);
`AppState.service` is the one object a service builds in its lifespan with everything of its
own (its typed settings, HTTP clients, relays), reached through one typed accessor per service
(for example `services/payments/state.py`), built on `service_state` below.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import redis.asyncio as aioredis
from starlette.requests import HTTPConnection

from shared.db import Pool
from shared.errors import ApiError
from shared.settings import DatabaseSettings, ServiceSettings

if TYPE_CHECKING:
    from shared.outbox import OutboxRelay

STATE_KEY = "micro"

T = TypeVar("T")


@dataclass(slots=True)
class AppState:
    settings: ServiceSettings
    redis: aioredis.Redis
    pool: Pool | None = None
    outbox: OutboxRelay | None = None
    # The service's own state (ServiceLifespan): one object, reached with `service_state`.
    service: object | None = None

    @property
    def db(self) -> Pool:
        if self.pool is None:
            raise ApiError(f"{self.settings.service} has no database")
        return self.pool

    @property
    def db_settings(self) -> DatabaseSettings:
        if not isinstance(self.settings, DatabaseSettings):
            raise ApiError(f"{self.settings.service} has no database")
        return self.settings


# Builds a service's own state once the pool and Redis are open, and closes what it opened.
ServiceLifespan = Callable[[AppState], AbstractAsyncContextManager[object]]


def app_state(conn: HTTPConnection) -> AppState:
    state = getattr(conn.state, STATE_KEY, None)
    if not isinstance(state, AppState):
        raise ApiError("The application has not finished starting.")
    return state


def service_state(conn: HTTPConnection | AppState, kind: type[T]) -> T:
    """The service's own state, as the type its lifespan built. The one check of its type
    lives here, so each service's accessor is one typed line."""
    state = conn if isinstance(conn, AppState) else app_state(conn)
    found = state.service
    if not isinstance(found, kind):
        raise ApiError("The application has not finished starting.")
    return found
