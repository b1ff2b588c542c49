"""The event log: storing what the stream brings, reading it, and sending an event again."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.events.errors import EndpointNotFoundError, EventNotFoundError
from services.events.repository import deliveries as deliveries_repo
from services.events.repository import endpoints as endpoints_repo
from services.events.repository import events as events_repo
from services.events.schemas import (
    DeliveryAttempt,
    EventListParams,
    ResendRequest,
    patterns_matching,
)
from services.events.service.access import Scope
from services.events.service.endpoints import ENDPOINT_PREFIX, sync_default
from services.events.service.urls import UrlPolicy
from shared import outbox
from shared.cipher import Cipher
from shared.db import Connection, Pool, transaction
from shared.errors import InvalidRequestError, UpstreamError
from shared.ids import is_id, new_id
from shared.pagination import ListParams, page
from shared.timeutil import unix

DELIVERY_PREFIX = "whdel"
# Events about the tenant itself: they carry its `webhook_url`, kept as its default endpoint.
TENANT_EVENTS = frozenset({"tenant.created", "tenant.updated"})


def parse_event(payload: str) -> events_repo.Event:
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
    return events_repo.Event(
        id=str(event_id),
        tenant_id=tenant_id,
        livemode=livemode,
        type=event_type,
        payload=payload,
        created_at=datetime.fromtimestamp(created, UTC),
    )


def delivery_attempt(attempt: deliveries_repo.Attempt) -> DeliveryAttempt:
    """The API's view of one attempt."""
    return DeliveryAttempt(
        id=attempt.id,
        event_id=attempt.event_id,
        webhook_endpoint=attempt.endpoint_id,
        delivery=attempt.delivery_id,
        url=attempt.url,
        attempt=attempt.attempt,
        succeeded=attempt.succeeded,
        status_code=attempt.status_code,
        error=attempt.error,
        duration_ms=attempt.duration_ms,
        created=unix(attempt.started_at),
        completed=unix(attempt.finished_at),
        next_attempt=None if attempt.next_attempt_at is None else unix(attempt.next_attempt_at),
        livemode=attempt.livemode,
    )


async def ingest(
    conn: Connection, batch: Sequence[events_repo.Event], *, policy: UrlPolicy, cipher: Cipher
) -> int:
    """Store the events not seen before and owe each to the endpoints that want it; how many
    deliveries that made.

    Events seen before (a relay's retry, a redelivered stream entry) change nothing.
    """
    unique = list({event.id: event for event in batch}.values())
    if not unique:
        return 0
    new_ids = await events_repo.insert_new(conn, unique)
    fresh = [event for event in unique if event.id in new_ids]
    for event in fresh:
        if event.type in TENANT_EVENTS:
            await _sync_tenant(conn, event, policy=policy, cipher=cipher)
    owed = await _route(conn, fresh)
    await deliveries_repo.create(conn, owed)
    return len(owed)


async def _sync_tenant(
    conn: Connection, event: events_repo.Event, *, policy: UrlPolicy, cipher: Cipher
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


async def _route(
    conn: Connection, fresh: Sequence[events_repo.Event]
) -> list[deliveries_repo.NewDelivery]:
    """Each event to the enabled endpoints of its own tenant and mode that select its type."""
    scopes = sorted({(event.tenant_id, event.livemode) for event in fresh})
    if not scopes:
        return []
    by_scope: dict[tuple[str, bool], list[endpoints_repo.Listener]] = {}
    for listener in await endpoints_repo.enabled_for(conn, scopes):
        by_scope.setdefault((listener.tenant_id, listener.livemode), []).append(listener)
    owed = []
    for event in fresh:
        wanted = set(patterns_matching(event.type))
        for endpoint in by_scope.get((event.tenant_id, event.livemode), []):
            if wanted.intersection(endpoint.enabled_events):
                owed.append(_owe(event, endpoint.id))
    return owed


def _owe(event: events_repo.Event, endpoint_id: str) -> deliveries_repo.NewDelivery:
    return deliveries_repo.NewDelivery(
        new_id(DELIVERY_PREFIX), event.id, endpoint_id, event.tenant_id, event.livemode
    )


def type_filter(params: EventListParams) -> tuple[list[str] | None, list[str]]:
    """`type` or `types` as (exact types, family prefixes); (None, []) selects every type.
    `family.*` selects the types that start with `family.`, `*` every type."""
    if params.type is not None and params.types is not None:
        raise InvalidRequestError("You may pass either type or types, but not both.", param="types")
    patterns = params.types if params.types is not None else [params.type] if params.type else []
    if not patterns or "*" in patterns:
        return None, []
    exact = [pattern for pattern in patterns if not pattern.endswith(".*")]
    prefixes = [pattern[:-1] for pattern in patterns if pattern.endswith(".*")]
    return exact, prefixes


async def list_events(
    pool: Pool, scope: Scope, *, params: EventListParams
) -> tuple[list[str], bool]:
    """A page of events as their stored JSON texts, newest first."""
    types, prefixes = type_filter(params)
    async with transaction(pool) as conn:
        found = await events_repo.list_page(
            conn,
            tenant_id=scope.tenant_id,
            livemode=scope.livemode,
            params=params,
            types=types,
            type_prefixes=prefixes,
            created=params.created_bounds(),
            object_id=params.object_id,
        )
    shown, has_more = page(found, params)
    return [event.payload for event in shown], has_more


async def _event(conn: Connection, scope: Scope, event_id: str) -> events_repo.Event:
    found: events_repo.Event | None = None
    if is_id(event_id, "evt"):
        found = await events_repo.get(
            conn, tenant_id=scope.tenant_id, livemode=scope.livemode, event_id=event_id
        )
    if found is None:
        raise EventNotFoundError(event_id)
    return found


async def get_event(pool: Pool, scope: Scope, event_id: str) -> str:
    """The event's JSON, byte for byte as it was emitted."""
    async with transaction(pool) as conn:
        event = await _event(conn, scope, event_id)
    return event.payload


async def resend(
    pool: Pool,
    scope: Scope,
    event_id: str,
    request: ResendRequest,
    *,
    redis: aioredis.Redis,
    retention_seconds: float,
    on_deliveries: Callable[[], None],
) -> str:
    """New deliveries of the event (to one endpoint, or to every enabled one that selects
    its type) and, unless told not to, the event again on the tenant's stream and live
    channel for `micro listen`. Returns the event's JSON; `on_deliveries` is called once
    the deliveries it made are committed.

    Redis is written last, inside the transaction: if it is down nothing is kept and the
    caller gets an error; a failure after it only means listeners see it twice.
    """
    async with transaction(pool) as conn:
        event = await _event(conn, scope, event_id)
        if request.webhook_endpoint is not None:
            owed = [await _one_endpoint(conn, scope, event, request.webhook_endpoint)]
        else:
            owed = await _route(conn, [event])
        await deliveries_repo.create(conn, owed)
        if request.live:
            # The outbox's own publisher: the same entry format and stream trimming as the
            # first time. It also appends to the global stream, where the log's dedup ignores
            # it.
            try:
                await _publish(redis, event, retention_seconds)
            except RedisError:
                raise UpstreamError(
                    "Live listeners cannot be reached right now; nothing was resent. Try again.",
                    code="event_stream_unavailable",
                    status=503,
                ) from None
    if owed:
        on_deliveries()
    return event.payload


async def _publish(
    redis: aioredis.Redis, event: events_repo.Event, retention_seconds: float
) -> None:
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
    conn: Connection, scope: Scope, event: events_repo.Event, endpoint_id: str
) -> deliveries_repo.NewDelivery:
    found: endpoints_repo.Endpoint | None = None
    if is_id(endpoint_id, ENDPOINT_PREFIX):
        found = await endpoints_repo.get(
            conn, tenant_id=scope.tenant_id, livemode=scope.livemode, endpoint_id=endpoint_id
        )
    if found is None:
        raise EndpointNotFoundError(endpoint_id, param="webhook_endpoint")
    if found.status != "enabled":
        raise InvalidRequestError(
            f"Webhook endpoint {endpoint_id!r} is disabled.",
            code="endpoint_disabled",
            param="webhook_endpoint",
        )
    return _owe(event, found.id)


async def list_attempts(
    pool: Pool, scope: Scope, event_id: str, *, params: ListParams
) -> tuple[list[DeliveryAttempt], bool]:
    """Every delivery attempt of the event, newest first."""
    async with transaction(pool) as conn:
        await _event(conn, scope, event_id)
        found = await deliveries_repo.list_attempts(
            conn,
            tenant_id=scope.tenant_id,
            livemode=scope.livemode,
            event_id=event_id,
            params=params,
        )
    shown, has_more = page(found, params)
    return [delivery_attempt(attempt) for attempt in shown], has_more


async def list_endpoint_attempts(
    pool: Pool, scope: Scope, endpoint_id: str, *, params: ListParams
) -> tuple[list[DeliveryAttempt], bool]:
    """Every delivery attempt to the endpoint (of every event), newest first."""
    async with transaction(pool) as conn:
        found: endpoints_repo.Endpoint | None = None
        if is_id(endpoint_id, ENDPOINT_PREFIX):
            found = await endpoints_repo.get(
                conn, tenant_id=scope.tenant_id, livemode=scope.livemode, endpoint_id=endpoint_id
            )
        if found is None:
            raise EndpointNotFoundError(endpoint_id)
        attempts = await deliveries_repo.list_attempts(
            conn,
            tenant_id=scope.tenant_id,
            livemode=scope.livemode,
            endpoint_id=endpoint_id,
            params=params,
        )
    shown, has_more = page(attempts, params)
    return [delivery_attempt(attempt) for attempt in shown], has_more
