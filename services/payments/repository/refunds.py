"""Refunds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams
from shared.rows import row
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
    metadata: dict[str, Any]
    created_at: datetime
    provider: str
    provider_refund_id: str | None
    failure_reason: str | None
    updated_at: datetime


_REFUND_COLUMNS = (
    "id, tenant_id, livemode, payment_intent_id, amount, currency, status, reason, "
    "metadata::text AS metadata, created_at, provider, provider_refund_id, failure_reason, "
    "updated_at"
)
_REFUNDS = ScopedTable("refunds", _REFUND_COLUMNS)
# The columns but metadata, for a query that names its tables.
_PLAIN_COLUMNS = [c for c in _REFUND_COLUMNS.split(",") if "metadata" not in c]


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
    metadata: dict[str, Any],
    idempotency_key: str | None,
    provider: str,
    status: str,
) -> RefundRow | None:
    """The new refund; None when one was made under the same Idempotency-Key already."""
    record = await conn.fetchrow(
        "INSERT INTO refunds (id, tenant_id, livemode, payment_intent_id, amount, currency, "
        "reason, idempotency_key, metadata, provider, status) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11) "
        "ON CONFLICT (tenant_id, livemode, idempotency_key) WHERE idempotency_key IS NOT NULL "
        f"DO NOTHING RETURNING {_REFUND_COLUMNS}",
        refund_id,
        tenant_id,
        livemode,
        intent_id,
        amount,
        currency,
        reason,
        idempotency_key,
        json.dumps(metadata),
        provider,
        status,
    )
    return _refund_or_none(record)


async def get_refund_by_key(
    conn: Connection, *, tenant_id: str, livemode: bool, idempotency_key: str
) -> RefundRow | None:
    record = await conn.fetchrow(
        f"SELECT {_REFUND_COLUMNS} FROM refunds "
        "WHERE tenant_id = $1 AND livemode = $2 AND idempotency_key = $3",
        tenant_id,
        livemode,
        idempotency_key,
    )
    return _refund_or_none(record)


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
    return [_refund(record) for record in records]


async def get_refund(
    conn: Connection, *, tenant_id: str, livemode: bool, refund_id: str
) -> RefundRow | None:
    record = await _REFUNDS.get(conn, tenant_id=tenant_id, livemode=livemode, row_id=refund_id)
    return _refund_or_none(record)


async def lock_refund(
    conn: Connection, *, tenant_id: str, livemode: bool, refund_id: str
) -> RefundRow | None:
    record = await conn.fetchrow(
        f"SELECT {_REFUND_COLUMNS} FROM refunds "
        "WHERE id = $1 AND tenant_id = $2 AND livemode = $3 FOR UPDATE",
        refund_id,
        tenant_id,
        livemode,
    )
    return _refund_or_none(record)


async def update_metadata(conn: Connection, refund_id: str, metadata: dict[str, Any]) -> RefundRow:
    record = await conn.fetchrow(
        f"UPDATE refunds SET metadata = $2::jsonb WHERE id = $1 RETURNING {_REFUND_COLUMNS}",
        refund_id,
        json.dumps(metadata),
    )
    assert record is not None
    return _refund(record)


async def lock_refund_by_id(conn: Connection, refund_id: str) -> RefundRow | None:
    """Unscoped: for the provider's answer, its webhook and the reconciler."""
    record = await conn.fetchrow(
        f"SELECT {_REFUND_COLUMNS} FROM refunds WHERE id = $1 FOR UPDATE", refund_id
    )
    return _refund_or_none(record)


async def lock_refund_for_account(
    conn: Connection,
    *,
    provider: str,
    account: str,
    livemode: bool | None,
    provider_refund_id: str | None,
    refund_id: str | None = None,
    reference: str | None = None,
    amount: int | None = None,
) -> RefundRow | None:
    """The refund a provider's webhook names (by the provider's own id, else by our id
    carried in the refund, else the oldest pending one of that transaction and amount whose
    provider id is not known yet: its create call's answer was lost), only if its payment
    went through that provider account ('platform', or a tenant id)."""
    if account == "platform":
        scope = "pi.provider_account = 'platform'"
        args: list[Any] = [provider]
    else:
        scope = "pi.provider_account = 'tenant' AND pi.tenant_id = $2 AND pi.livemode = $3"
        args = [provider, account, livemode]
    base = (
        f"SELECT {', '.join('r.' + c.strip() for c in _PLAIN_COLUMNS)}, "
        "r.metadata::text AS metadata FROM refunds r "
        "JOIN payment_intents pi ON pi.id = r.payment_intent_id "
        f"WHERE r.provider = $1 AND {scope} AND "
    )
    n = len(args)
    if provider_refund_id is not None:
        record = await conn.fetchrow(
            base + f"r.provider_refund_id = ${n + 1} FOR UPDATE OF r", *args, provider_refund_id
        )
        if record is not None:
            return _refund(record)
    if refund_id is not None:
        record = await conn.fetchrow(base + f"r.id = ${n + 1} FOR UPDATE OF r", *args, refund_id)
        if record is not None:
            return _refund(record)
    if reference is not None and amount is not None:
        record = await conn.fetchrow(
            base + f"r.payment_intent_id = ${n + 1} AND r.amount = ${n + 2} "
            "AND r.status = 'pending' AND r.provider_refund_id IS NULL "
            "ORDER BY r.created_at LIMIT 1 FOR UPDATE OF r",
            *args,
            reference.partition("-")[0],
            amount,
        )
        if record is not None:
            return _refund(record)
    return None


async def update_refund(
    conn: Connection,
    refund_id: str,
    *,
    status: str,
    provider_refund_id: str | None,
    failure_reason: str | None,
) -> RefundRow:
    record = await conn.fetchrow(
        "UPDATE refunds SET status = $2, provider_refund_id = coalesce(provider_refund_id, $3), "
        f"failure_reason = $4, updated_at = now() WHERE id = $1 RETURNING {_REFUND_COLUMNS}",
        refund_id,
        status,
        provider_refund_id,
        failure_reason,
    )
    assert record is not None
    return _refund(record)


async def stale_refunds(conn: Connection, *, older_than: float, limit: int = 100) -> list[str]:
    """Provider refunds left pending longer than `older_than` seconds since last heard of."""
    rows = await conn.fetch(
        "SELECT id FROM refunds WHERE status = 'pending' AND provider <> 'simulator' "
        "AND updated_at < now() - make_interval(secs => $1) ORDER BY updated_at LIMIT $2",
        older_than,
        limit,
    )
    return [r["id"] for r in rows]


def _refund(record: asyncpg.Record) -> RefundRow:
    return row(RefundRow, {**record, "metadata": json.loads(record["metadata"])})


def _refund_or_none(record: asyncpg.Record | None) -> RefundRow | None:
    return None if record is None else _refund(record)
