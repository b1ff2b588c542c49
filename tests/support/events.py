"""The events service in-process for its tests, with a handle on its workers, and the
helpers its tests share: events as the outbox publishes them, endpoints, attempts."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import redis.asyncio as aioredis
from aiohttp.abc import AbstractResolver
from cryptography.fernet import Fernet

from services.events.app import create_app
from services.events.service.consumer import StreamConsumer
from services.events.service.delivery import Deliverer
from services.events.settings import EventsSettings
from services.events.state import EventsState, events_state
from shared import outbox
from shared.identity import Identity, mint
from shared.ids import new_id
from shared.state import STATE_KEY, AppState
from tests.support.asgi import _WithState, identity_headers
from tests.support.secrets import TEST_IDENTITY_KEY, TEST_SECRET_FIELDS
from tests.support.servers import PostgresHandle
from tests.support.webhook_receiver import Received, Receiver, event_id

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
    def events(self) -> EventsState:
        return events_state(self.state)

    @property
    def settings(self) -> EventsSettings:
        return self.events.settings

    @property
    def deliverer(self) -> Deliverer:
        return self.events.deliverer

    @property
    def consumer(self) -> StreamConsumer:
        return self.events.consumer


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


def tenant() -> str:
    return f"ten_{secrets.token_hex(6)}"


def key(tenant_id: str, *, livemode: bool = False, **kwargs: Any) -> dict[str, str]:
    return identity_headers(tenant_id=tenant_id, livemode=livemode, **kwargs)


def stripe_key(tenant_id: str, *, livemode: bool = False) -> dict[str, str]:
    """An API key's identity as the gateway hands it on for a `/v1` path (the stripe dialect)."""
    identity = Identity(
        principal="key_test",
        principal_type="api_key",
        tenant_id=tenant_id,
        livemode=livemode,
        dialect="stripe",
    )
    return {"X-Micro-Identity": mint(identity, TEST_IDENTITY_KEY)}


def event_row(
    tenant_id: str,
    *,
    type: str = "payment_intent.succeeded",
    livemode: bool = False,
    created: int | None = None,
    event_id: str | None = None,
    object_id: str = "pi_1",
) -> dict[str, Any]:
    """An event as the outbox would hold it (the publisher's row shape)."""
    event_id = event_id or new_id("evt")
    payload = outbox.encode_event(
        event_id=event_id,
        type=type,
        tenant_id=tenant_id,
        livemode=livemode,
        data={"id": object_id, "object": "payment_intent", "amount": 5000, "note": "é ✓"},
        request_id="req_1",
        idempotency_key=None,
        created=created,
    )
    return {
        "event_id": event_id,
        "type": type,
        "tenant_id": tenant_id,
        "livemode": livemode,
        "payload": payload,
    }


async def publish(redis: aioredis.Redis, *rows: dict[str, Any]) -> None:
    """XADD to the streams in the documented entry format, as the outbox relay does."""
    await outbox.publish(redis, list(rows), retention_seconds=7 * 86400)


async def delivered(redis: aioredis.Redis, receiver: Receiver, tenant_id: str) -> Received:
    """A new event of `tenant_id` published, once `receiver` has accepted its delivery."""
    row = event_row(tenant_id)
    await publish(redis, row)
    await receiver.wait_until(lambda: row["event_id"] in receiver.accepted_ids())
    return next(r for r in receiver.accepted() if event_id(r) == row["event_id"])


async def wait_stored(
    client: httpx.AsyncClient, event_id: str, headers: dict[str, str], within: float = 15
) -> httpx.Response:
    deadline = time.monotonic() + within
    while True:
        response = await client.get(f"/events/{event_id}", headers=headers)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.05)


async def create_endpoint(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    receiver: Receiver,
    *,
    enabled_events: list[str] | None = None,
    verify: bool = True,
    **fields: Any,
) -> dict[str, Any]:
    """An endpoint at `receiver`; `verify`: the receiver checks signatures with its secret,
    in the endpoint's scheme."""
    response = await client.post(
        "/webhook_endpoints",
        json={"url": receiver.url, "enabled_events": enabled_events or ["*"], **fields},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    if verify:
        receiver.secret = created["secret"]
        receiver.signature = created["signature"]
    return created


Attempts = list[dict[str, Any]]


async def attempts_of(
    client: httpx.AsyncClient,
    event_id: str,
    headers: dict[str, str],
    until: Callable[[Attempts], bool],
    within: float = 15,
) -> Attempts:
    """The event's delivery attempts, once `until` holds for them."""
    deadline = time.monotonic() + within
    while True:
        response = await client.get(
            f"/events/{event_id}/deliveries", params={"limit": 100}, headers=headers
        )
        # 404 until the consumer has stored the event.
        assert response.status_code in (200, 404), response.text
        found: Attempts = response.json()["data"] if response.status_code == 200 else []
        if until(found):
            return found
        assert time.monotonic() < deadline, f"attempts never settled: {found}"
        await asyncio.sleep(0.05)


async def first_attempts(
    client: httpx.AsyncClient, redis: aioredis.Redis, tenant_id: str, *, livemode: bool = False
) -> Attempts:
    """The delivery attempts of a new event of `tenant_id`, published now, once it has one."""
    row = event_row(tenant_id, livemode=livemode)
    await publish(redis, row)
    return await attempts_of(client, row["event_id"], key(tenant_id, livemode=livemode), bool)


async def new_group(redis: aioredis.Redis) -> str:
    """A consumer group of its own on the global stream, from now on: what other tests
    publish before does not reach it, and the shared service's group never sees its
    members."""
    group = f"events-{secrets.token_hex(4)}"
    await redis.xgroup_create(outbox.ALL_STREAM, group, id="$", mkstream=True)
    return group
