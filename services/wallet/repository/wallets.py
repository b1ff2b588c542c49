"""Wallet rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams
from shared.scoped import ScopedTable

_COLUMNS = """
    id, tenant_id, livemode, owner, currency, ledger_account_id, status,
    metadata::text AS metadata, created_at
"""
_WALLETS = ScopedTable("wallets", _COLUMNS)


async def insert_wallet(
    conn: Connection,
    *,
    id: str,
    tenant_id: str,
    livemode: bool,
    owner: str,
    currency: str,
    ledger_account_id: str,
    metadata: dict[str, str],
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"INSERT INTO wallets (id, tenant_id, livemode, owner, currency, ledger_account_id, "
        f"metadata) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) RETURNING {_COLUMNS}",
        id,
        tenant_id,
        livemode,
        owner,
        currency,
        ledger_account_id,
        json.dumps(metadata),
    )
    assert row is not None
    return row


async def get_wallet(
    conn: Connection,
    *,
    wallet_id: str,
    livemode: bool,
    tenant_id: str | None,
    owner: str | None = None,
) -> asyncpg.Record | None:
    """`tenant_id` None looks across tenants; `owner` narrows to one owner's wallets."""
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM wallets WHERE id = $1 AND livemode = $2 "
        "AND ($3::text IS NULL OR tenant_id = $3) AND ($4::text IS NULL OR owner = $4)",
        wallet_id,
        livemode,
        tenant_id,
        owner,
    )


async def list_wallets(
    conn: Connection,
    *,
    livemode: bool,
    tenant_id: str | None,
    params: ListParams,
    filters: Sequence[tuple[str, Any]] = (),
) -> Sequence[asyncpg.Record]:
    """One page in walking order; `filters` are (column, value) equalities, columns ours."""
    return await _WALLETS.page(
        conn, tenant_id=tenant_id, livemode=livemode, params=params, filters=filters
    )


async def set_status(conn: Connection, *, wallet_id: str, status: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"UPDATE wallets SET status = $2, updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}",
        wallet_id,
        status,
    )
    assert row is not None
    return row
