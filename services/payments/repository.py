"""All SQL of payments."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams
from shared.scoped import ScopedTable

_INTENT_COLUMNS = """
    id, tenant_id, livemode, amount, amount_received, currency, status, capture_method,
    provider, payment_method, description, metadata::text AS metadata, created_at
"""

_TABLE = ScopedTable("payment_intents", _INTENT_COLUMNS)


async def list_payment_intents(
    conn: Connection, *, tenant_id: str, livemode: bool, params: ListParams
) -> Sequence[asyncpg.Record]:
    return await _TABLE.page(conn, tenant_id=tenant_id, livemode=livemode, params=params)


async def get_payment_intent(
    conn: Connection, *, tenant_id: str, livemode: bool, intent_id: str
) -> asyncpg.Record | None:
    return await _TABLE.get(conn, tenant_id=tenant_id, livemode=livemode, row_id=intent_id)
