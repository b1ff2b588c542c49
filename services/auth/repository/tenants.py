from __future__ import annotations

from collections.abc import Sequence

from services.auth.repository.rows import TenantRow
from shared.db import Connection
from shared.pagination import ListParams, keyset
from shared.rows import row_or_none, rows

COLUMNS = "id, name, slug, webhook_url, status, rate_limit, live_mode, created_at"


async def insert(
    conn: Connection,
    *,
    tenant_id: str,
    name: str,
    slug: str,
    webhook_url: str,
    rate_limit: int | None = None,
) -> TenantRow | None:
    """None when the slug is taken."""
    record = await conn.fetchrow(
        "INSERT INTO tenants (id, name, slug, webhook_url, rate_limit) "
        f"VALUES ($1, $2, $3, $4, $5) ON CONFLICT (slug) DO NOTHING RETURNING {COLUMNS}",
        tenant_id,
        name,
        slug,
        webhook_url,
        rate_limit,
    )
    return row_or_none(TenantRow, record)


async def get(conn: Connection, tenant_id: str) -> TenantRow | None:
    record = await conn.fetchrow(f"SELECT {COLUMNS} FROM tenants WHERE id = $1", tenant_id)
    return row_or_none(TenantRow, record)


async def get_by_slug(conn: Connection, slug: str) -> TenantRow | None:
    record = await conn.fetchrow(f"SELECT {COLUMNS} FROM tenants WHERE slug = $1", slug)
    return row_or_none(TenantRow, record)


async def list_page(
    conn: Connection, params: ListParams, *, search: str | None = None
) -> Sequence[TenantRow]:
    """A page of tenants; with `search`, those whose name or slug contains it (any case;
    `strpos`, so `%` and `_` are plain characters)."""
    op, order = keyset(params)
    records = await conn.fetch(
        f"SELECT {COLUMNS} FROM tenants WHERE ($1::text IS NULL OR id {op} $1) "
        "AND ($3::text IS NULL OR strpos(lower(name), lower($3)) > 0 "
        "OR strpos(slug, lower($3)) > 0) "
        f"ORDER BY id {order} LIMIT $2",
        params.cursor,
        params.fetch,
        search,
    )
    return rows(TenantRow, records)


async def update(
    conn: Connection,
    tenant_id: str,
    *,
    name: str | None,
    webhook_url: str | None,
    rate_limit: int | None,
) -> TenantRow | None:
    record = await conn.fetchrow(
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
    return row_or_none(TenantRow, record)


async def disable(conn: Connection, tenant_id: str) -> TenantRow | None:
    record = await conn.fetchrow(
        f"UPDATE tenants SET status = 'disabled', updated_at = now() "
        f"WHERE id = $1 AND status = 'active' RETURNING {COLUMNS}",
        tenant_id,
    )
    return row_or_none(TenantRow, record)


async def lock(conn: Connection, tenant_id: str) -> TenantRow | None:
    record = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM tenants WHERE id = $1 FOR UPDATE", tenant_id
    )
    return row_or_none(TenantRow, record)


async def set_live_mode(conn: Connection, tenant_id: str, *, live_mode: str) -> TenantRow | None:
    record = await conn.fetchrow(
        f"UPDATE tenants SET live_mode = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}",
        tenant_id,
        live_mode,
    )
    return row_or_none(TenantRow, record)
