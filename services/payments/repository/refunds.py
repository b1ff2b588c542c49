"""Refunds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.db import Connection
from shared.pagination import ListParams
from shared.rows import row, row_or_none, rows
from shared.scoped import ScopedTable


@dataclass(frozen=True, slots=True)
class RefundRow:
    id: str
    tenant_id: str
    livemode: bool
    payment_intent_id: str
    amount: int
    currency: str
    status: str
    reason: str | None
    created_at: datetime


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
) -> RefundRow:
    record = await conn.fetchrow(
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
    assert record is not None
    return row(RefundRow, record)


async def list_refunds(
    conn: Connection,
    *,
    tenant_id: str,
    livemode: bool,
    params: ListParams,
    intent_id: str | None,
) -> list[RefundRow]:
    filters = [("payment_intent_id", intent_id)] if intent_id else []
    records = await _REFUNDS.page(
        conn, tenant_id=tenant_id, livemode=livemode, params=params, filters=filters
    )
    return rows(RefundRow, records)


async def get_refund(
    conn: Connection, *, tenant_id: str, livemode: bool, refund_id: str
) -> RefundRow | None:
    record = await _REFUNDS.get(conn, tenant_id=tenant_id, livemode=livemode, row_id=refund_id)
    return row_or_none(RefundRow, record)
