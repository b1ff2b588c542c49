"""The `wallets` table: one row per wallet, its money in the ledger account it names."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams
from shared.rows import row
from shared.scoped import ScopedTable

_COLUMNS = """
    id, tenant_id, livemode, owner, currency, ledger_account_id, status,
    metadata::text AS metadata, created_at
"""
_WALLETS = ScopedTable("wallets", _COLUMNS)

# The column's CHECK.
WalletStatus = Literal["active", "frozen"]


@dataclass(frozen=True, slots=True)
class WalletRow:
    id: str
    tenant_id: str
    livemode: bool
    owner: str
    currency: str
    ledger_account_id: str
    status: WalletStatus
    # The jsonb column, decoded.
    metadata: dict[str, Any]
    created_at: datetime


def _wallet(record: asyncpg.Record) -> WalletRow:
    return row(WalletRow, {**dict(record), "metadata": json.loads(record["metadata"])})


def _wallet_or_none(record: asyncpg.Record | None) -> WalletRow | None:
    return None if record is None else _wallet(record)


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
) -> WalletRow:
    record = await conn.fetchrow(
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
    assert record is not None
    return _wallet(record)


async def get_wallet(
    conn: Connection,
    *,
    wallet_id: str,
    livemode: bool,
    tenant_id: str | None,
    owner: str | None = None,
) -> WalletRow | None:
    """`tenant_id` None looks across tenants; `owner` narrows to one owner's wallets."""
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM wallets WHERE id = $1 AND livemode = $2 "
        "AND ($3::text IS NULL OR tenant_id = $3) AND ($4::text IS NULL OR owner = $4)",
        wallet_id,
        livemode,
        tenant_id,
        owner,
    )
    return _wallet_or_none(record)


async def get_wallets(
    conn: Connection, *, wallet_ids: list[str], livemode: bool, tenant_id: str
) -> dict[str, WalletRow]:
    """The tenant's wallets of `wallet_ids` in this mode that exist, by id (one statement
    for a transfer's two)."""
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM wallets WHERE id = ANY($1::text[]) AND livemode = $2 "
        "AND tenant_id = $3",
        wallet_ids,
        livemode,
        tenant_id,
    )
    return {row.id: row for row in map(_wallet, records)}


async def list_wallets(
    conn: Connection,
    *,
    livemode: bool,
    tenant_id: str | None,
    params: ListParams,
    filters: Sequence[tuple[str, Any]] = (),
) -> list[WalletRow]:
    """One page in walking order; `filters` are (column, value) equalities, columns ours."""
    records = await _WALLETS.page(
        conn, tenant_id=tenant_id, livemode=livemode, params=params, filters=filters
    )
    return [_wallet(record) for record in records]


async def set_status(conn: Connection, *, wallet_id: str, status: str) -> WalletRow:
    record = await conn.fetchrow(
        f"UPDATE wallets SET status = $2, updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}",
        wallet_id,
        status,
    )
    assert record is not None
    return _wallet(record)
