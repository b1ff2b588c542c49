"""The event log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams, keyset

_COLUMNS = "id, tenant_id, livemode, type, payload, created_at"


@dataclass(frozen=True, slots=True)
class NewEvent:
    id: str
    tenant_id: str
    livemode: bool
    type: str
    payload: str
    created_at: datetime


async def insert_new(conn: Connection, events: Sequence[NewEvent]) -> set[str]:
    """Store the events not already stored; the ids of those that were new."""
    rows = await conn.fetch(
        """
        INSERT INTO events (id, tenant_id, livemode, type, payload, created_at)
        SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::text[], $5::text[],
                             $6::timestamptz[])
        ON CONFLICT (id) DO NOTHING
        RETURNING id
        """,
        [e.id for e in events],
        [e.tenant_id for e in events],
        [e.livemode for e in events],
        [e.type for e in events],
        [e.payload for e in events],
        [e.created_at for e in events],
    )
    return {row["id"] for row in rows}


async def list_page(
    conn: Connection,
    *,
    tenant_id: str,
    livemode: bool,
    params: ListParams,
    type: str | None,
    type_prefix: str | None,
    created: Mapping[str, int],
) -> Sequence[asyncpg.Record]:
    """One page in walking order (see shared.pagination). `created` maps an operator
    (one of < <= > >=) to unix seconds."""
    op, order = keyset(params)
    args: list[Any] = [tenant_id, livemode, params.cursor, params.fetch, type, type_prefix]
    conditions = ""
    for operator, seconds in created.items():
        if operator not in ("<", "<=", ">", ">="):
            raise ValueError(operator)
        args.append(seconds)
        conditions += f" AND created_at {operator} to_timestamp(${len(args)})"
    return await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM events
        WHERE tenant_id = $1 AND livemode = $2 AND ($3::text IS NULL OR id {op} $3)
          AND ($5::text IS NULL OR type = $5)
          AND ($6::text IS NULL OR starts_with(type, $6))
          {conditions}
        ORDER BY id {order} LIMIT $4
        """,
        *args,
    )


async def get(
    conn: Connection, *, tenant_id: str, livemode: bool, event_id: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM events WHERE id = $1 AND tenant_id = $2 AND livemode = $3",
        event_id,
        tenant_id,
        livemode,
    )
