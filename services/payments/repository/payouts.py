"""Payouts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams
from shared.scoped import ScopedTable

_PAYOUT_COLUMNS = (
    "id, tenant_id, livemode, amount, currency, status, provider, destination::text AS "
    "destination, description, metadata::text AS metadata, failure_code, failure_message, "
    "created_at, provider_account, provider_transfer_id, wallet_id"
)
_PAYOUTS = ScopedTable("payouts", _PAYOUT_COLUMNS)


async def insert_payout(conn: Connection, **values: Any) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO payouts (id, tenant_id, livemode, amount, currency, status, provider, "
        "destination, description, metadata, failure_code, failure_message, provider_account, "
        "provider_transfer_id, wallet_id) VALUES "
        "($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10::jsonb, $11, $12, $13, $14, $15) "
        f"RETURNING {_PAYOUT_COLUMNS}",
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
    )
    assert row is not None
    return row


async def list_payouts(
    conn: Connection,
    *,
    tenant_id: str,
    livemode: bool,
    params: ListParams,
    wallet_id: str | None = None,
    status: str | None = None,
) -> Sequence[asyncpg.Record]:
    filters = [(c, v) for c, v in (("wallet_id", wallet_id), ("status", status)) if v]
    return await _PAYOUTS.page(
        conn, tenant_id=tenant_id, livemode=livemode, params=params, filters=filters
    )


async def get_payout(
    conn: Connection, *, tenant_id: str, livemode: bool, payout_id: str
) -> asyncpg.Record | None:
    return await _PAYOUTS.get(conn, tenant_id=tenant_id, livemode=livemode, row_id=payout_id)


async def lock_payout(conn: Connection, payout_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_PAYOUT_COLUMNS} FROM payouts WHERE id = $1 FOR UPDATE", payout_id
    )


async def lock_payout_for_account(
    conn: Connection, *, payout_id: str, provider: str, account: str, livemode: bool | None
) -> asyncpg.Record | None:
    """Like `lock_intent_for_account`, for a transfer webhook."""
    if account == "platform":
        return await conn.fetchrow(
            f"SELECT {_PAYOUT_COLUMNS} FROM payouts WHERE id = $1 AND provider = $2 "
            "AND provider_account = 'platform' FOR UPDATE",
            payout_id,
            provider,
        )
    return await conn.fetchrow(
        f"SELECT {_PAYOUT_COLUMNS} FROM payouts WHERE id = $1 AND provider = $2 "
        "AND provider_account = 'tenant' AND tenant_id = $3 AND livemode = $4 FOR UPDATE",
        payout_id,
        provider,
        account,
        livemode,
    )


async def update_payout(
    conn: Connection,
    payout_id: str,
    *,
    status: str,
    failure_code: str | None,
    failure_message: str | None,
    provider_transfer_id: str | None,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        "UPDATE payouts SET status = $2, failure_code = $3, failure_message = $4, "
        "provider_transfer_id = coalesce($5, provider_transfer_id), updated_at = now() "
        f"WHERE id = $1 RETURNING {_PAYOUT_COLUMNS}",
        payout_id,
        status,
        failure_code,
        failure_message,
        provider_transfer_id,
    )
    assert row is not None
    return row


async def stale_payouts(conn: Connection, *, older_than: float, limit: int = 100) -> list[str]:
    rows = await conn.fetch(
        "SELECT id FROM payouts WHERE status = 'pending' "
        "AND updated_at < now() - make_interval(secs => $1) ORDER BY updated_at LIMIT $2",
        older_than,
        limit,
    )
    return [r["id"] for r in rows]
