"""The transactional outbox and its relay to Redis ("An event" in
docs/architecture.md, "Three paths").

A service calls `emit` inside the transaction that makes its change, so the event exists if
and only if the change does. The relay (started for every service with a database) publishes
unpublished rows in order:

- `XADD` to the tenant's stream for that mode (durable and replayable: `micro listen` resumes
  from a stream id) and to the global stream the events service reads with a consumer group;
  streams are trimmed by age, never by count, so a listener away for days still resumes;
- `PUBLISH` on the tenant's live channel, carrying the tenant-stream id, for live listeners:
  once per channel per batch, for its newest event there. It is a doorbell (the gateway then
  reads the stream after its cursor); one per event made a backlog's every event a message
  each gateway parsed, two thirds of a gateway's time while `micro listen` drained one.

All three happen in one Lua call per batch, so Redis holds a batch entirely or not at all. A
row is marked published only after Redis took it; a crash in between republishes it:
at-least-once delivery (event ids dedupe). Two replicas never publish at the same time: the
round runs under an advisory lock, which also keeps each stream in `seq` order. While Redis
is down rows wait, and go out in order when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from opentelemetry.trace import SpanKind
from pydantic import BaseModel
from redis.exceptions import RedisError

from shared.aio import stop, wait_event
from shared.context import current_idempotency_key, current_request_id
from shared.db import Connection, Pool
from shared.identity import Identity
from shared.ids import new_id
from shared.metrics import EVENT_LAG
from shared.retention import Job, delete_in_batches
from shared.state import AppState
from shared.tracing import client_span, current_traceparent, enabled

log = logging.getLogger("micro.outbox")

ALL_STREAM = "micro:events:all"
NOTIFY_CHANNEL = "micro_outbox"
# One lock id for every service: each service has its own database, so the lock only ever
# coordinates replicas of the same service.
_LOCK_ID = 0x6D6963726F  # "micro"
_BATCH = 500
_MAX_BACKOFF = 10.0


def mode(livemode: bool) -> str:
    return "live" if livemode else "test"


def tenant_stream(tenant_id: str, livemode: bool) -> str:
    return f"micro:events:{tenant_id}:{mode(livemode)}"


def live_channel(tenant_id: str, livemode: bool) -> str:
    return f"micro:events:live:{tenant_id}:{mode(livemode)}"


def encode_event(
    *,
    event_id: str,
    type: str,
    tenant_id: str,
    livemode: bool,
    data: Mapping[str, Any] | BaseModel,
    request_id: str | None,
    idempotency_key: str | None,
    created: int | None = None,
) -> str:
    obj = data.model_dump(mode="json") if isinstance(data, BaseModel) else dict(data)
    event = {
        "id": event_id,
        "object": "event",
        "type": type,
        "created": int(time.time()) if created is None else created,
        "livemode": livemode,
        "tenant_id": tenant_id,
        "data": {"object": obj},
        "request": {"id": request_id, "idempotency_key": idempotency_key},
    }
    return json.dumps(event, separators=(",", ":"))


async def emit(
    conn: Connection,
    identity: Identity | None,
    *,
    type: str,
    data: Mapping[str, Any] | BaseModel,
    tenant_id: str | None = None,
    livemode: bool | None = None,
    idempotency_key: str | None = None,
) -> str:
    """Record one event in the caller's transaction; returns its `evt_` id."""
    tenant = tenant_id or (identity.tenant_id if identity else None)
    if not tenant:
        raise ValueError("an event needs a tenant")
    live = livemode if livemode is not None else bool(identity and identity.livemode)
    event_id = new_id("evt")
    payload = encode_event(
        event_id=event_id,
        type=type,
        tenant_id=tenant,
        livemode=live,
        data=data,
        request_id=(identity.request_id if identity else None) or current_request_id(),
        idempotency_key=idempotency_key or current_idempotency_key(),
    )
    await conn.execute(
        "INSERT INTO outbox (event_id, tenant_id, livemode, type, payload, traceparent) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        event_id,
        tenant,
        live,
        type,
        payload,
        current_traceparent(),
    )
    return event_id


async def emit_many(
    conn: Connection,
    identity: Identity,
    events: Sequence[tuple[str, Mapping[str, Any] | BaseModel]],
) -> list[str]:
    """`emit` for many events of one caller in one statement (a batch of 1,000 postings)."""
    if not events:
        return []
    tenant, live = identity.tenant_scope, identity.livemode
    if not tenant:
        raise ValueError("an event needs a tenant")
    request_id = identity.request_id or current_request_id()
    key = current_idempotency_key()
    created = int(time.time())
    ids = [new_id("evt") for _ in events]
    payloads = [
        encode_event(
            event_id=event_id,
            type=type,
            tenant_id=tenant,
            livemode=live,
            data=data,
            request_id=request_id,
            idempotency_key=key,
            created=created,
        )
        for event_id, (type, data) in zip(ids, events, strict=True)
    ]
    await conn.execute(
        "INSERT INTO outbox (event_id, tenant_id, livemode, type, payload, traceparent) "
        "SELECT e.id, $1, $2, e.type, e.payload, $6 "
        "FROM unnest($3::text[], $4::text[], $5::text[]) WITH ORDINALITY "
        "AS e(id, type, payload, n) ORDER BY e.n",
        tenant,
        live,
        ids,
        [type for type, _ in events],
        payloads,
        current_traceparent(),
    )
    return ids


@dataclass(frozen=True, slots=True)
class Published:
    """One event as Redis now holds it."""

    event_id: str
    stream_id: str


# KEYS: the global stream, then (tenant stream, live channel) per event.
# ARGV: the trim cutoff, then (event id, type, tenant, mode, payload, traceparent or "") per
# event; a traceparent is a field of its own beside the event, whose JSON never changes.
# Returns the tenant-stream entry ids, in order. Each live channel is told once, of its
# newest event in the batch.
_PUBLISH = """
local cutoff = ARGV[1]
local ids = {}
local newest = {}
for i = 0, (#KEYS - 1) / 2 - 1 do
    newest[KEYS[3 + 2 * i]] = i
end
for i = 0, (#KEYS - 1) / 2 - 1 do
    local stream, channel = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
    local a = 2 + 6 * i
    local id, etype, tenant = ARGV[a], ARGV[a + 1], ARGV[a + 2]
    local mode, payload, parent = ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
    local own = {'XADD', stream, 'MINID', '~', cutoff, '*', 'id', id, 'type', etype,
        'event', payload}
    local all = {'XADD', KEYS[1], 'MINID', '~', cutoff, '*', 'id', id, 'type', etype,
        'event', payload, 'tenant', tenant, 'mode', mode}
    if parent ~= '' then
        table.insert(own, 'traceparent')
        table.insert(own, parent)
        table.insert(all, 'traceparent')
        table.insert(all, parent)
    end
    local sid = redis.call(unpack(own))
    redis.call(unpack(all))
    if newest[channel] == i then
        local message = cjson.encode({stream_id = sid, id = id, type = etype, event = payload})
        redis.call('PUBLISH', channel, message)
    end
    ids[#ids + 1] = sid
end
return ids
"""


async def publish(
    redis: aioredis.Redis,
    rows: Sequence[Mapping[str, Any] | asyncpg.Record],
    *,
    retention_seconds: float,
    traceparents: Mapping[str, str] | None = None,
) -> list[Published]:
    """Put events (rows with event_id, type, tenant_id, livemode, payload) into Redis.

    `traceparents`: by event id, the trace context each entry carries on (its stream field)."""
    traceparents = traceparents or {}
    if not rows:
        return []
    keys: list[str] = [ALL_STREAM]
    args: list[str | int] = [int((time.time() - retention_seconds) * 1000)]
    for row in rows:
        keys += [
            tenant_stream(row["tenant_id"], row["livemode"]),
            live_channel(row["tenant_id"], row["livemode"]),
        ]
        args += [
            row["event_id"],
            row["type"],
            row["tenant_id"],
            mode(row["livemode"]),
            row["payload"],
            traceparents.get(row["event_id"], ""),
        ]
    script = redis.register_script(_PUBLISH)
    stream_ids = await script(keys=keys, args=args)
    return [
        Published(row["event_id"], sid.decode() if isinstance(sid, bytes) else str(sid))
        for row, sid in zip(rows, stream_ids, strict=True)
    ]


# KEYS: the tenant stream, the live channel. ARGV: cutoff, event id, type, payload.
async def relay_round(pool: Pool, redis: aioredis.Redis, *, retention_seconds: float) -> int:
    """Publish every unpublished row, oldest first; returns how many went out.

    0 also when another replica holds the lock: it is publishing the same rows.
    """
    # The lock is the session's, not a transaction's: Redis is called between the read and
    # the mark, and no transaction may stay open across a network call. One relay at a time
    # keeps the publishing order; a crash after publishing and before marking publishes those
    # rows again (at least once, deduplicated downstream by event id).
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _LOCK_ID):
            return 0
        try:
            return await _publish_pending(conn, redis, retention_seconds=retention_seconds)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)


async def _publish_pending(
    conn: Connection, redis: aioredis.Redis, *, retention_seconds: float
) -> int:
    sent = 0
    while True:
        rows = await conn.fetch(
            "SELECT seq, event_id, tenant_id, livemode, type, payload, traceparent,"
            " extract(epoch FROM created_at)::float8 AS created FROM outbox "
            "WHERE published_at IS NULL ORDER BY seq LIMIT $1",
            _BATCH,
        )
        if not rows:
            return sent
        await _publish_traced(redis, rows, retention_seconds=retention_seconds)
        now = time.time()
        for row in rows:
            EVENT_LAG.labels("published").observe(max(0.0, now - row["created"]))
        await conn.execute(
            "UPDATE outbox SET published_at = now() WHERE seq = ANY($1::bigint[])",
            [row["seq"] for row in rows],
        )
        sent += len(rows)
        if len(rows) < _BATCH:
            return sent


async def _publish_traced(
    redis: aioredis.Redis, rows: Sequence[asyncpg.Record], *, retention_seconds: float
) -> None:
    """`publish`, each row carrying on its writer's traceparent; with tracing on, through one
    PRODUCER span per trace in the batch (a child of the row that wrote it), whose context
    the entries carry instead."""
    stored = {row["event_id"]: parent for row in rows if (parent := row["traceparent"])}
    if not enabled() or not stored:
        await publish(redis, rows, retention_seconds=retention_seconds, traceparents=stored)
        return
    by_trace: dict[str, list[asyncpg.Record]] = {}
    for row in rows:
        if parent := stored.get(row["event_id"]):
            by_trace.setdefault(parent[3:35], []).append(row)
    async with contextlib.AsyncExitStack() as spans:
        carried: dict[str, str] = {}
        for traced in by_trace.values():
            first = traced[0]
            spans.enter_context(
                client_span(
                    "outbox publish",
                    parent=first["traceparent"],
                    kind=SpanKind.PRODUCER,
                    attributes={
                        "micro.tenant_id": first["tenant_id"],
                        "micro.mode": mode(first["livemode"]),
                        "micro.event_ids": [row["event_id"] for row in traced],
                        "micro.event_types": [row["type"] for row in traced],
                        "messaging.batch.message_count": len(traced),
                    },
                )
            )
            own = current_traceparent()
            for row in traced:
                carried[row["event_id"]] = own or row["traceparent"]
        await publish(redis, rows, retention_seconds=retention_seconds, traceparents=carried)


async def purge_published(pool: Pool, *, older_than_seconds: float) -> int:
    """Published rows are only history once Redis holds them; unpublished ones (NULL
    `published_at`) are never touched, however old."""
    return await delete_in_batches(
        pool,
        """
        DELETE FROM outbox WHERE seq = ANY(ARRAY(
            SELECT seq FROM outbox
            WHERE published_at < now() - make_interval(secs => $1)
            ORDER BY published_at LIMIT $2 FOR UPDATE SKIP LOCKED))
        """,
        older_than_seconds,
    )


async def _purge_job(state: AppState) -> int:
    return await purge_published(
        state.db, older_than_seconds=state.db_settings.outbox_retention_days * 86400
    )


RETENTION = Job("outbox", _purge_job)


class OutboxRelay:
    """Runs `relay_round` when a commit notifies, and at least every `interval` seconds."""

    def __init__(
        self,
        pool: Pool,
        redis: aioredis.Redis,
        *,
        dsn: str,
        interval: float,
        retention_seconds: float,
    ) -> None:
        self.pool = pool
        self.redis = redis
        self.dsn = dsn
        self.interval = interval
        self.retention_seconds = retention_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._listener: asyncpg.Connection | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        failures = 0
        while not self._stopping:
            # Cleared before the work, so a commit (or `stop`) landing during it wakes the wait.
            self._wake.clear()
            await self._ensure_listener()
            try:
                await relay_round(self.pool, self.redis, retention_seconds=self.retention_seconds)
                failures = 0
            except (RedisError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                # Rows stay unpublished and go out, in order, once Redis (or the DB) is back.
                failures += 1
                if failures == 1 or failures % 30 == 0:
                    log.warning("outbox relay round failed; retrying", exc_info=True)
                await asyncio.sleep(min(_MAX_BACKOFF, 0.1 * 2**failures))
                continue
            await wait_event(self._wake, self.interval)

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            conn = await asyncpg.connect(self.dsn, server_settings={"application_name": "outbox"})
            await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
        except (OSError, asyncpg.PostgresError):
            return  # polling still works; try again next round
        self._listener = conn

    async def stop(self, task: asyncio.Task[None], *, grace: float = 5.0) -> None:
        """End `run` (in `task`) at its next turn, then close the listener.

        A flag rather than only a cancel: a cancellation that lands inside a driver call can
        be absorbed there, and a connection opened as it lands would be left behind.
        """
        self._stopping = True
        self._wake.set()
        try:
            async with asyncio.timeout(grace):
                await asyncio.shield(task)
        except TimeoutError:
            await stop(task)
        await self.close()

    async def close(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()


@asynccontextmanager
async def outbox_relay(state: AppState) -> AsyncIterator[None]:
    settings = state.db_settings
    relay = OutboxRelay(
        state.db,
        state.redis,
        dsn=settings.database_url,
        interval=settings.outbox_interval,
        retention_seconds=settings.event_retention_days * 86400,
    )
    state.outbox = relay
    task = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        await relay.stop(task)


async def backlog(pool: Pool) -> tuple[int, float | None]:
    """(rows committed and not yet published, the oldest one's age in seconds or None)."""
    row = await pool.fetchrow(
        "SELECT count(*) AS pending,"
        " extract(epoch FROM now() - min(created_at))::float8 AS oldest_seconds"
        " FROM outbox WHERE published_at IS NULL"
    )
    if row is None:
        return 0, None
    oldest = row["oldest_seconds"]
    return int(row["pending"]), float(oldest) if oldest is not None else None
