"""All SQL of the events service."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams, keyset

_EVENT_COLUMNS = """
    id, tenant_id, livemode, type, data::text AS data, request_id, idempotency_key, created_at
"""


async def list_events(
    conn: Connection, *, tenant_id: str, livemode: bool, params: ListParams
) -> Sequence[asyncpg.Record]:
    op, order = keyset(params)
    return await conn.fetch(
        f"""
        SELECT {_EVENT_COLUMNS} FROM events
        WHERE tenant_id = $1 AND livemode = $2 AND ($3::text IS NULL OR id {op} $3)
        ORDER BY id {order} LIMIT $4
        """,  # noqa: S608 - only the fixed column list and keyset operator are interpolated
        tenant_id,
        livemode,
        params.cursor,
        params.fetch,
    )


async def get_event(
    conn: Connection, *, tenant_id: str, livemode: bool, event_id: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_EVENT_COLUMNS} FROM events "  # noqa: S608 - fixed column list
        "WHERE id = $1 AND tenant_id = $2 AND livemode = $3",
        event_id,
        tenant_id,
        livemode,
    )
