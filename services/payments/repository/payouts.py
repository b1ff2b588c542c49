"""Payouts."""

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
class PayoutRow:
    """A payout as stored; its jsonb columns decoded."""

    id: str
    tenant_id: str
    livemode: bool
    amount: int
    currency: str
    status: str
    provider: str
    destination: dict[str, Any]
    description: str | None
    metadata: dict[str, Any]
    failure_code: str | None
    failure_message: str | None
    created_at: datetime
    provider_account: str
    provider_transfer_id: str | None
    wallet_id: str | None


_PAYOUT_COLUMNS = (
    "id, tenant_id, livemode, amount, currency, status, provider, destination::text AS "
    "destination, description, metadata::text AS metadata, failure_code, failure_message, "
    "created_at, provider_account, provider_transfer_id, wallet_id"
)
_PAYOUTS = ScopedTable("payouts", _PAYOUT_COLUMNS)


def _payout(record: asyncpg.Record) -> PayoutRow:
    return row(
        PayoutRow,
        {
            **record,
            "destination": json.loads(record["destination"]),
            "metadata": json.loads(record["metadata"]),
        },
    )


def _payout_or_none(record: asyncpg.Record | None) -> PayoutRow | None:
    return None if record is None else _payout(record)


async def insert_payout(conn: Connection, **values: Any) -> PayoutRow | None:
    """The new payout; None when one was made under the same Idempotency-Key already."""
    record = await conn.fetchrow(
        "INSERT INTO payouts (id, tenant_id, livemode, amount, currency, status, provider, "
        "destination, description, metadata, failure_code, failure_message, provider_account, "
        "provider_transfer_id, wallet_id, idempotency_key) VALUES "
        "($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10::jsonb, $11, $12, $13, $14, $15, $16) "
        "ON CONFLICT (tenant_id, livemode, idempotency_key) WHERE idempotency_key IS NOT NULL "
        f"DO NOTHING RETURNING {_PAYOUT_COLUMNS}",
        values["id"],
        values["tenant_id"],
        values["livemode"],
        values["amount"],
        values["currency"],
        values["status"],
        values["provider"],
        json.dumps(values["destination"]),
        values["description"],
        json.dumps(values["metadata"]),
        values["failure_code"],
        values["failure_message"],
        values["provider_account"],
        values["provider_transfer_id"],
        values["wallet_id"],
        values["idempotency_key"],
    )
    return _payout_or_none(record)


async def get_payout_by_key(
    conn: Connection, *, tenant_id: str, livemode: bool, idempotency_key: str
) -> PayoutRow | None:
    record = await conn.fetchrow(
        f"SELECT {_PAYOUT_COLUMNS} FROM payouts "
        "WHERE tenant_id = $1 AND livemode = $2 AND idempotency_key = $3",
        tenant_id,
        livemode,
        idempotency_key,
    )
    return _payout_or_none(record)


async def list_payouts(
    conn: Connection,
    *,
    tenant_id: str,
    livemode: bool,
    params: ListParams,
    wallet_id: str | None = None,
    status: str | None = None,
) -> list[PayoutRow]:
    filters = [(c, v) for c, v in (("wallet_id", wallet_id), ("status", status)) if v]
    records = await _PAYOUTS.page(
        conn, tenant_id=tenant_id, livemode=livemode, params=params, filters=filters
    )
    return [_payout(record) for record in records]


async def get_payout(
    conn: Connection, *, tenant_id: str, livemode: bool, payout_id: str
) -> PayoutRow | None:
    record = await _PAYOUTS.get(conn, tenant_id=tenant_id, livemode=livemode, row_id=payout_id)
    return _payout_or_none(record)


async def lock_payout(conn: Connection, payout_id: str) -> PayoutRow | None:
    record = await conn.fetchrow(
        f"SELECT {_PAYOUT_COLUMNS} FROM payouts WHERE id = $1 FOR UPDATE", payout_id
    )
    return _payout_or_none(record)


async def lock_payout_for_account(
    conn: Connection, *, payout_id: str, provider: str, account: str, livemode: bool | None
) -> PayoutRow | None:
    """Like `lock_intent_for_account`, for a transfer webhook."""
    if account == "platform":
        record = await conn.fetchrow(
            f"SELECT {_PAYOUT_COLUMNS} FROM payouts WHERE id = $1 AND provider = $2 "
            # A platform account serves one mode: its webhooks name that mode's objects.
            "AND provider_account = 'platform' AND ($3::boolean IS NULL OR livemode = $3) "
            "FOR UPDATE",
            payout_id,
            provider,
            livemode,
        )
        return _payout_or_none(record)
    record = await conn.fetchrow(
        f"SELECT {_PAYOUT_COLUMNS} FROM payouts WHERE id = $1 AND provider = $2 "
        "AND provider_account = 'tenant' AND tenant_id = $3 AND livemode = $4 FOR UPDATE",
        payout_id,
        provider,
        account,
        livemode,
    )
    return _payout_or_none(record)


async def update_payout(
    conn: Connection,
    payout_id: str,
    *,
    status: str,
    failure_code: str | None,
    failure_message: str | None,
    provider_transfer_id: str | None,
) -> PayoutRow:
    record = await conn.fetchrow(
        "UPDATE payouts SET status = $2, failure_code = $3, failure_message = $4, "
        "provider_transfer_id = coalesce($5, provider_transfer_id), updated_at = now() "
        f"WHERE id = $1 RETURNING {_PAYOUT_COLUMNS}",
        payout_id,
        status,
        failure_code,
        failure_message,
        provider_transfer_id,
    )
    assert record is not None
    return _payout(record)


async def stale_payouts(conn: Connection, *, older_than: float, limit: int = 100) -> list[str]:
    rows = await conn.fetch(
        "SELECT id FROM payouts WHERE status = 'pending' "
        "AND updated_at < now() - make_interval(secs => $1) ORDER BY updated_at LIMIT $2",
        older_than,
        limit,
    )
    return [r["id"] for r in rows]
