"""All SQL of payments."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams, keyset

_INTENT_COLUMNS = """
    id, tenant_id, livemode, amount, amount_received, currency, status, capture_method,
    provider, payment_method, description, metadata::text AS metadata, created_at
"""


async def list_payment_intents(
    conn: Connection, *, tenant_id: str, livemode: bool, params: ListParams
) -> Sequence[asyncpg.Record]:
    op, order = keyset(params)
    return await conn.fetch(
        f"""
        SELECT {_INTENT_COLUMNS} FROM payment_intents
        WHERE tenant_id = $1 AND livemode = $2 AND ($3::text IS NULL OR id {op} $3)
        ORDER BY id {order} LIMIT $4
        """,  # noqa: S608 - only the fixed column list and keyset operator are interpolated
        tenant_id,
        livemode,
        params.cursor,
        params.fetch,
    )


async def get_payment_intent(
    conn: Connection, *, tenant_id: str, livemode: bool, intent_id: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_INTENT_COLUMNS} FROM payment_intents "  # noqa: S608 - fixed column list
        "WHERE id = $1 AND tenant_id = $2 AND livemode = $3",
        intent_id,
        tenant_id,
        livemode,
    )
