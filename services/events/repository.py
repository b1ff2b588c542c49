"""All SQL of the events service."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams
from shared.scoped import ScopedTable

_EVENT_COLUMNS = """
    id, tenant_id, livemode, type, data::text AS data, request_id, idempotency_key, created_at
"""

_TABLE = ScopedTable("events", _EVENT_COLUMNS)


async def list_events(
    conn: Connection, *, tenant_id: str, livemode: bool, params: ListParams
) -> Sequence[asyncpg.Record]:
    return await _TABLE.page(conn, tenant_id=tenant_id, livemode=livemode, params=params)


async def get_event(
    conn: Connection, *, tenant_id: str, livemode: bool, event_id: str
) -> asyncpg.Record | None:
    return await _TABLE.get(conn, tenant_id=tenant_id, livemode=livemode, row_id=event_id)
