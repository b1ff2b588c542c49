from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.auth.repository.rows import ApiKeyRow, KeyStanding
from shared.db import Connection
from shared.pagination import ListParams, keyset
from shared.rows import row, row_or_none, rows

COLUMNS = (
    "id, tenant_id, livemode, secret_hash, last4, name, created_by, status, expires_at, "
    "rolled_to, rate_limit, created_at, revoked_at"
)
_NEW = "id, tenant_id, livemode, secret_hash, last4, name, created_by, rate_limit"
_INSERT = (
    f"INSERT INTO api_keys ({_NEW}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
)


async def insert(
    conn: Connection,
    *,
    key_id: str,
    tenant_id: str,
    livemode: bool,
    secret_hash: str,
    last4: str,
    name: str | None,
    created_by: str,
    rate_limit: int | None,
) -> ApiKeyRow:
    record = await conn.fetchrow(
        _INSERT,
        key_id,
        tenant_id,
        livemode,
        secret_hash,
        last4,
        name,
        created_by,
        rate_limit,
    )
    assert record is not None
    return row(ApiKeyRow, record)


async def get(conn: Connection, *, key_id: str, tenant_id: str) -> ApiKeyRow | None:
    record = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM api_keys WHERE id = $1 AND tenant_id = $2",
        key_id,
        tenant_id,
    )
    return row_or_none(ApiKeyRow, record)


async def lock(conn: Connection, *, key_id: str, tenant_id: str) -> ApiKeyRow | None:
    record = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM api_keys WHERE id = $1 AND tenant_id = $2 FOR UPDATE",
        key_id,
        tenant_id,
    )
    return row_or_none(ApiKeyRow, record)


async def list_page(conn: Connection, *, tenant_id: str, params: ListParams) -> Sequence[ApiKeyRow]:
    op, order = keyset(params)
    records = await conn.fetch(
        f"SELECT {COLUMNS} FROM api_keys WHERE tenant_id = $1 "
        f"AND ($2::text IS NULL OR id {op} $2) ORDER BY id {order} LIMIT $3",
        tenant_id,
        params.cursor,
        params.fetch,
    )
    return rows(ApiKeyRow, records)


async def revoke(conn: Connection, key_id: str) -> ApiKeyRow | None:
    record = await conn.fetchrow(
        f"UPDATE api_keys SET status = 'revoked', revoked_at = now() "
        f"WHERE id = $1 AND status = 'active' RETURNING {COLUMNS}",
        key_id,
    )
    return row_or_none(ApiKeyRow, record)


async def set_rolled(
    conn: Connection, key_id: str, *, rolled_to: str, expires_at: datetime
) -> None:
    await conn.execute(
        "UPDATE api_keys SET rolled_to = $2, expires_at = $3 WHERE id = $1",
        key_id,
        rolled_to,
        expires_at,
    )


async def revoke_for_tenant(conn: Connection, tenant_id: str) -> list[str]:
    records = await conn.fetch(
        "UPDATE api_keys SET status = 'revoked', revoked_at = now() "
        "WHERE tenant_id = $1 AND status = 'active' RETURNING secret_hash",
        tenant_id,
    )
    return [record["secret_hash"] for record in records]


async def find_by_hash(conn: Connection, secret_hash: str) -> KeyStanding | None:
    """A key by its hash, whatever its state, with its tenant's state and effective limit."""
    record = await conn.fetchrow(
        """
        SELECT k.id, k.tenant_id, k.livemode, k.status, k.expires_at,
               k.expires_at IS NOT NULL AND k.expires_at <= now() AS expired,
               t.status AS tenant_status,
               coalesce(k.rate_limit, t.rate_limit) AS rate_limit
        FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
        WHERE k.secret_hash = $1
        """,
        secret_hash,
    )
    return row_or_none(KeyStanding, record)


async def active_hashes_for_tenant(conn: Connection, tenant_id: str) -> list[str]:
    records = await conn.fetch(
        "SELECT secret_hash FROM api_keys WHERE tenant_id = $1 AND status = 'active'", tenant_id
    )
    return [record["secret_hash"] for record in records]
