"""The event log: storing what the stream brings, reading it, and sending an event again."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.events.errors import EndpointNotFoundError, EventNotFoundError
from services.events.repository import deliveries, endpoints
from services.events.repository import events as log
from services.events.repository.deliveries import NewDelivery
from services.events.repository.events import NewEvent
from services.events.schemas import (
    DeliveryAttempt,
    EventListParams,
    ResendRequest,
    patterns_matching,
)
from services.events.service.access import Scope
from services.events.service.endpoints import ENDPOINT_PREFIX, UrlPolicy, sync_default
from shared import outbox
from shared.cipher import Cipher
from shared.db import Connection
from shared.errors import InvalidRequestError, UpstreamError
from shared.ids import is_id, new_id
from shared.pagination import ListParams, page

DELIVERY_PREFIX = "whdel"
# Events about the tenant itself: they carry its `webhook_url`, kept as its default endpoint.
TENANT_EVENTS = frozenset({"tenant.created", "tenant.updated"})


@dataclass(frozen=True, slots=True)
class Ingested:
    stored: int
    deliveries: int


def parse_event(payload: str) -> NewEvent:
    """The fields the log indexes, read from the event's JSON; ValueError if it is not one."""
    event = json.loads(payload)
    if not isinstance(event, dict) or event.get("object") != "event":
        raise ValueError("not an event")
    event_id, event_type, tenant_id = event.get("id"), event.get("type"), event.get("tenant_id")
    if not is_id(event_id, "evt") or not isinstance(event_type, str) or not event_type:
        raise ValueError("an event needs an evt_ id and a type")
    if not isinstance(tenant_id, str) or not tenant_id:
        raise ValueError("an event needs a tenant")
    created, livemode = event.get("created"), event.get("livemode")
    if not isinstance(created, int) or not isinstance(livemode, bool):
        raise ValueError("an event needs created (unix seconds) and livemode")
    return NewEvent(
        id=str(event_id),
        tenant_id=tenant_id,
        livemode=livemode,
        type=event_type,
        payload=payload,
        created_at=datetime.fromtimestamp(created, UTC),
    )


async def ingest(
    conn: Connection, batch: Sequence[NewEvent], *, policy: UrlPolicy, cipher: Cipher
) -> Ingested:
    """Store the events not seen before and owe each to the endpoints that want it.

    Events seen before (a relay's retry, a redelivered stream entry) change nothing.
    """
    unique = list({event.id: event for event in batch}.values())
    if not unique:
        return Ingested(0, 0)
    new_ids = await log.insert_new(conn, unique)
    fresh = [event for event in unique if event.id in new_ids]
    for event in fresh:
        if event.type in TENANT_EVENTS:
            await _sync_tenant(conn, event, policy=policy, cipher=cipher)
    owed = await _route(conn, fresh)
    await deliveries.create(conn, owed)
    return Ingested(len(fresh), len(owed))


async def _sync_tenant(
    conn: Connection, event: NewEvent, *, policy: UrlPolicy, cipher: Cipher
) -> None:
    tenant: Any = json.loads(event.payload).get("data", {}).get("object", {})
    url = tenant.get("webhook_url") if isinstance(tenant, dict) else None
    if isinstance(url, str):
        await sync_default(
            conn,
            tenant_id=event.tenant_id,
            webhook_url=url,
            policy=policy,
            cipher=cipher,
        )


async def _route(conn: Connection, fresh: Sequence[NewEvent]) -> list[NewDelivery]:
    """Each event to the enabled endpoints of its own tenant and mode that select its type."""
    scopes = sorted({(event.tenant_id, event.livemode) for event in fresh})
    if not scopes:
        return []
    by_scope: dict[tuple[str, bool], list[asyncpg.Record]] = {}
    for row in await endpoints.enabled_for(conn, scopes):
        by_scope.setdefault((row["tenant_id"], row["livemode"]), []).append(row)
    owed = []
    for event in fresh:
        wanted = set(patterns_matching(event.type))
        for endpoint in by_scope.get((event.tenant_id, event.livemode), []):
            if wanted.intersection(endpoint["enabled_events"]):
                owed.append(_owe(event.id, endpoint["id"], event.tenant_id, event.livemode))
    return owed


def _owe(event_id: str, endpoint_id: str, tenant_id: str, livemode: bool) -> NewDelivery:
    return NewDelivery(new_id(DELIVERY_PREFIX), event_id, endpoint_id, tenant_id, livemode)


async def list_events(
    conn: Connection, scope: Scope, *, params: EventListParams
) -> tuple[list[str], bool]:
    """A page of events as their stored JSON texts, newest first."""
    exact: str | None = params.type
    prefix: str | None = None
    if exact is not None and exact.endswith(".*"):
        prefix = exact[:-1]
        exact = None
    rows = await log.list_page(
        conn,
        tenant_id=scope.tenant_id,
        livemode=scope.livemode,
        params=params,
        type=None if exact == "*" else exact,
        type_prefix=prefix,
        created=params.created_bounds(),
    )
    shown, has_more = page(rows, params)
    return [row["payload"] for row in shown], has_more


async def _event(conn: Connection, scope: Scope, event_id: str) -> asyncpg.Record:
    row: asyncpg.Record | None = None
    if is_id(event_id, "evt"):
        row = await log.get(
            conn, tenant_id=scope.tenant_id, livemode=scope.livemode, event_id=event_id
        )
    if row is None:
        raise EventNotFoundError(event_id)
    return row


async def get_event(conn: Connection, scope: Scope, event_id: str) -> str:
    """The event's JSON, byte for byte as it was emitted."""
    row = await _event(conn, scope, event_id)
    payload: str = row["payload"]
    return payload


async def resend(
    conn: Connection,
    scope: Scope,
    event_id: str,
    request: ResendRequest,
    *,
    redis: aioredis.Redis,
    retention_seconds: float,
) -> tuple[str, int]:
    """New deliveries of the event (to one endpoint, or to every enabled one that selects
    its type) and, unless told not to, the event again on the tenant's stream and live
    channel for `micro listen`. Returns the event's JSON and how many deliveries were made.

    Redis is written last, inside the caller's transaction: if it is down nothing is kept
    and the caller gets an error; a failure after it only means listeners see it twice.
    """
    row = await _event(conn, scope, event_id)
    event = NewEvent(
        id=row["id"],
        tenant_id=row["tenant_id"],
        livemode=row["livemode"],
        type=row["type"],
        payload=row["payload"],
        created_at=row["created_at"],
    )
    if request.webhook_endpoint is not None:
        owed = [await _one_endpoint(conn, scope, event, request.webhook_endpoint)]
    else:
        owed = await _route(conn, [event])
    await deliveries.create(conn, owed)
    if request.live:
        # The outbox's own publisher: the same entry format and stream trimming as the first
        # time. It also appends to the global stream, where the log's dedup ignores it.
        try:
            await _publish(redis, event, retention_seconds)
        except RedisError:
            raise UpstreamError(
                "Live listeners cannot be reached right now; nothing was resent. Try again.",
                code="event_stream_unavailable",
                status=503,
            ) from None
    return event.payload, len(owed)


async def _publish(redis: aioredis.Redis, event: NewEvent, retention_seconds: float) -> None:
    await outbox.publish(
        redis,
        [
            {
                "event_id": event.id,
                "type": event.type,
                "tenant_id": event.tenant_id,
                "livemode": event.livemode,
                "payload": event.payload,
            }
        ],
        retention_seconds=retention_seconds,
    )


async def _one_endpoint(
    conn: Connection, scope: Scope, event: NewEvent, endpoint_id: str
) -> NewDelivery:
    row: asyncpg.Record | None = None
    if is_id(endpoint_id, ENDPOINT_PREFIX):
        row = await endpoints.get(
            conn, tenant_id=scope.tenant_id, livemode=scope.livemode, endpoint_id=endpoint_id
        )
    if row is None:
        raise EndpointNotFoundError(endpoint_id, param="webhook_endpoint")
    if row["status"] != "enabled":
        raise InvalidRequestError(
            f"Webhook endpoint {endpoint_id!r} is disabled.",
            code="endpoint_disabled",
            param="webhook_endpoint",
        )
    return _owe(event.id, row["id"], event.tenant_id, event.livemode)


async def list_attempts(
    conn: Connection, scope: Scope, event_id: str, *, params: ListParams
) -> tuple[list[DeliveryAttempt], bool]:
    """Every delivery attempt of the event, newest first."""
    await _event(conn, scope, event_id)
    rows = await deliveries.list_attempts(
        conn,
        tenant_id=scope.tenant_id,
        livemode=scope.livemode,
        event_id=event_id,
        params=params,
    )
    shown, has_more = page(rows, params)
    return [DeliveryAttempt.from_row(row) for row in shown], has_more
