"""The event log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.db import Connection, Pool
from shared.pagination import ListParams, keyset
from shared.retention import delete_in_batches
from shared.rows import row_or_none, rows

_COLUMNS = "id, tenant_id, livemode, type, payload, created_at, traceparent"
# The id of the object an event is about, as events_object_idx indexes it.
OBJECT_ID = "((payload::jsonb) #>> '{data,object,id}')"


@dataclass(frozen=True, slots=True)
class Event:
    """One event of the log: what the stream brought, and what is read back. `payload` is
    the event's JSON exactly as it was emitted."""

    id: str
    tenant_id: str
    livemode: bool
    type: str
    payload: str
    created_at: datetime
    # The trace the event belongs to (shared/tracing.py), which its deliveries continue.
    traceparent: str | None = None


async def insert_new(conn: Connection, events: Sequence[Event]) -> set[str]:
    """Store the events not already stored; the ids of those that were new."""
    inserted = await conn.fetch(
        """
        INSERT INTO events (id, tenant_id, livemode, type, payload, created_at, traceparent)
        SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::text[], $5::text[],
                             $6::timestamptz[], $7::text[])
        ON CONFLICT (id) DO NOTHING
        RETURNING id
        """,
        [e.id for e in events],
        [e.tenant_id for e in events],
        [e.livemode for e in events],
        [e.type for e in events],
        [e.payload for e in events],
        [e.created_at for e in events],
        [e.traceparent for e in events],
    )
    return {record["id"] for record in inserted}


async def list_page(
    conn: Connection,
    *,
    tenant_id: str,
    livemode: bool,
    params: ListParams,
    types: Sequence[str] | None,
    type_prefixes: Sequence[str] = (),
    created: Mapping[str, int],
    object_id: str | None = None,
) -> list[Event]:
    """One page in walking order (see shared.pagination). `types`: None for every type,
    else the events of one of these types or starting with one of `type_prefixes`.
    `created` maps an operator (one of < <= > >=) to unix seconds; `object_id` keeps the
    events whose `data.object.id` it is (served by events_object_idx)."""
    op, order = keyset(params)
    args: list[Any] = [
        tenant_id,
        livemode,
        params.cursor,
        params.fetch,
        None if types is None else list(types),
        list(type_prefixes),
    ]
    conditions = ""
    for operator, seconds in created.items():
        if operator not in ("<", "<=", ">", ">="):
            raise ValueError(operator)
        args.append(seconds)
        conditions += f" AND created_at {operator} to_timestamp(${len(args)})"
    if object_id is not None:
        args.append(object_id)
        conditions += f" AND {OBJECT_ID} = ${len(args)}"
    found = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM events
        WHERE tenant_id = $1 AND livemode = $2 AND ($3::text IS NULL OR id {op} $3)
          AND ($5::text[] IS NULL OR type = ANY($5::text[])
               OR EXISTS (SELECT 1 FROM unnest($6::text[]) AS p WHERE starts_with(type, p)))
          {conditions}
        ORDER BY id {order} LIMIT $4
        """,
        *args,
    )
    return rows(Event, found)


async def get(conn: Connection, *, tenant_id: str, livemode: bool, event_id: str) -> Event | None:
    found = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM events WHERE id = $1 AND tenant_id = $2 AND livemode = $3",
        event_id,
        tenant_id,
        livemode,
    )
    return row_or_none(Event, found)


async def purge(pool: Pool, *, older_than_seconds: float) -> int:
    """Delete events received before the cutoff, with their finished deliveries, in
    batches. An event a delivery still waits on stays, however old; should one become
    pending meanwhile (a resend), the foreign key fails the batch rather than lose it.
    No FOR UPDATE: the log is append-only for the app's role (no UPDATE privilege, which a
    row lock needs); `delete_in_batches` keeps a second replica out of the same batch."""
    return await delete_in_batches(
        pool,
        """
        WITH doomed AS (
            SELECT e.id FROM events e
            WHERE e.received_at < now() - make_interval(secs => $1)
              AND NOT EXISTS (SELECT 1 FROM deliveries d
                              WHERE d.event_id = e.id AND d.status = 'pending')
            ORDER BY e.received_at LIMIT $2
        ), finished AS (
            DELETE FROM deliveries d USING doomed
            WHERE d.event_id = doomed.id AND d.status <> 'pending'
        )
        DELETE FROM events e USING doomed WHERE e.id = doomed.id
        """,
        older_than_seconds,
    )
