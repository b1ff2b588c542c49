"""Refunds."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams
from shared.scoped import ScopedTable

_REFUND_COLUMNS = (
    "id, tenant_id, livemode, payment_intent_id, amount, currency, status, reason, created_at"
)
_REFUNDS = ScopedTable("refunds", _REFUND_COLUMNS)


async def refunded_total(conn: Connection, intent_id: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT coalesce(sum(amount), 0) FROM refunds "
            "WHERE payment_intent_id = $1 AND status <> 'failed'",
            intent_id,
        )
    )


async def insert_refund(
    conn: Connection,
    *,
    refund_id: str,
    tenant_id: str,
    livemode: bool,
    intent_id: str,
    amount: int,
    currency: str,
    reason: str | None,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO refunds (id, tenant_id, livemode, payment_intent_id, amount, currency, "
        f"reason) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_REFUND_COLUMNS}",
        refund_id,
        tenant_id,
        livemode,
        intent_id,
        amount,
        currency,
        reason,
    )
    assert row is not None
    return row


async def list_refunds(
    conn: Connection,
    *,
    tenant_id: str,
    livemode: bool,
    params: ListParams,
    intent_id: str | None,
) -> Sequence[asyncpg.Record]:
    filters = [("payment_intent_id", intent_id)] if intent_id else []
    return await _REFUNDS.page(
        conn, tenant_id=tenant_id, livemode=livemode, params=params, filters=filters
    )


async def get_refund(
    conn: Connection, *, tenant_id: str, livemode: bool, refund_id: str
) -> asyncpg.Record | None:
    return await _REFUNDS.get(conn, tenant_id=tenant_id, livemode=livemode, row_id=refund_id)
