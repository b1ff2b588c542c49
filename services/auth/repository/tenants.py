from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams, keyset

COLUMNS = "id, name, slug, webhook_url, status, rate_limit, live_mode, created_at"


async def insert(
    conn: Connection,
    *,
    tenant_id: str,
    name: str,
    slug: str,
    webhook_url: str,
    rate_limit: int | None = None,
) -> asyncpg.Record | None:
    """None when the slug is taken."""
    return await conn.fetchrow(
        "INSERT INTO tenants (id, name, slug, webhook_url, rate_limit) "
        f"VALUES ($1, $2, $3, $4, $5) ON CONFLICT (slug) DO NOTHING RETURNING {COLUMNS}",
        tenant_id,
        name,
        slug,
        webhook_url,
        rate_limit,
    )


async def get(conn: Connection, tenant_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM tenants WHERE id = $1", tenant_id)


async def get_by_slug(conn: Connection, slug: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM tenants WHERE slug = $1", slug)


async def list_page(conn: Connection, params: ListParams) -> Sequence[asyncpg.Record]:
    op, order = keyset(params)
    return await conn.fetch(
        f"SELECT {COLUMNS} FROM tenants WHERE ($1::text IS NULL OR id {op} $1) "
        f"ORDER BY id {order} LIMIT $2",
        params.cursor,
        params.fetch,
    )


async def update(
    conn: Connection,
    tenant_id: str,
    *,
    name: str | None,
    webhook_url: str | None,
    rate_limit: int | None,
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""
        UPDATE tenants SET
            name = coalesce($2, name),
            webhook_url = coalesce($3, webhook_url),
            rate_limit = coalesce($4, rate_limit),
            updated_at = now()
        WHERE id = $1 AND status = 'active'
        RETURNING {COLUMNS}
        """,
        tenant_id,
        name,
        webhook_url,
        rate_limit,
    )


async def disable(conn: Connection, tenant_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"UPDATE tenants SET status = 'disabled', updated_at = now() "
        f"WHERE id = $1 AND status = 'active' RETURNING {COLUMNS}",
        tenant_id,
    )


async def lock(conn: Connection, tenant_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM tenants WHERE id = $1 FOR UPDATE", tenant_id)


async def set_live_mode(
    conn: Connection, tenant_id: str, *, live_mode: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"UPDATE tenants SET live_mode = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}",
        tenant_id,
        live_mode,
    )
