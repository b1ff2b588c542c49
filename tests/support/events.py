"""The events service in-process for its tests, with a handle on its workers."""

from __future__ import annotations

import contextlib
import itertools
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from aiohttp.abc import AbstractResolver
from cryptography.fernet import Fernet

from services.events.app import create_app
from services.events.service.consumer import StreamConsumer
from services.events.service.delivery import Deliverer
from services.events.service.workers import CONSUMER_KEY, DELIVERER_KEY
from services.events.settings import EventsSettings
from shared.state import STATE_KEY, AppState
from tests.support.asgi import _WithState
from tests.support.secrets import TEST_SECRET_FIELDS
from tests.support.servers import PostgresHandle

_counter = itertools.count()
# Generated per run: tests never rely on the source's development key.
WEBHOOK_SECRETS_KEY = Fernet.generate_key().decode()

# Fast retries and polls: the schedule's shape is kept, its days become milliseconds.
FAST = {
    "retry_scale": 0.0002,
    "delivery_poll_interval": 0.05,
    "consumer_block_ms": 200,
    "outbox_interval": 0.05,
}


@dataclass
class EventsService:
    client: httpx.AsyncClient
    state: AppState
    dsn: str

    @property
    def settings(self) -> EventsSettings:
        assert isinstance(self.state.settings, EventsSettings)
        return self.state.settings

    @property
    def deliverer(self) -> Deliverer:
        found = self.state.extras[DELIVERER_KEY]
        assert isinstance(found, Deliverer)
        return found

    @property
    def consumer(self) -> StreamConsumer:
        found = self.state.extras[CONSUMER_KEY]
        assert isinstance(found, StreamConsumer)
        return found


async def clone_database(pg: PostgresHandle, template: str) -> str:
    """A clone of `template`; its DSN as the events app's role."""
    name = f"t_events_{next(_counter)}_{secrets.token_hex(3)}"
    await pg.create_database(name, template=template)
    return pg.app_dsn("events", name)


@contextlib.asynccontextmanager
async def events_service(
    pg: PostgresHandle,
    templates: dict[str, str],
    redis_url: str,
    *,
    resolver: AbstractResolver | None = None,
    **overrides: object,
) -> AsyncIterator[EventsService]:
    """A fresh database, its own consumer group (so services of earlier tests, gone now,
    leave nothing pending for it), and fast timings unless overridden; `resolver` answers
    the service's DNS lookups."""
    values: dict[str, object] = {
        "redis_url": redis_url,
        **TEST_SECRET_FIELDS,
        "consumer_group": f"events-{secrets.token_hex(4)}",
        "webhook_secrets_key": WEBHOOK_SECRETS_KEY,
        **FAST,
        **overrides,
    }
    if "database_url" not in values:
        values["database_url"] = await clone_database(pg, templates["events"])
    settings = EventsSettings.model_validate(values)
    app = create_app(settings, resolver=resolver)
    async with app.router.lifespan_context(app) as lifespan_state:
        state = (lifespan_state or {})[STATE_KEY]
        assert isinstance(state, AppState)
        transport = httpx.ASGITransport(app=_WithState(app, lifespan_state or {}))
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield EventsService(client, state, settings.database_url)
