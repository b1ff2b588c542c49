"""All SQL of the auth service."""

from __future__ import annotations

import asyncpg

from shared.db import Connection

# Never the password hash: nothing read through these columns may leave the service.
_USER_COLUMNS = "id, tenant_id, email, role, is_active, created_at"
_TENANT_COLUMNS = "id, name, slug, webhook_url, status, created_at"


async def get_active_user(conn: Connection, *, user_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_USER_COLUMNS} FROM users "  # noqa: S608 - fixed column list
        "WHERE id = $1 AND is_active",
        user_id,
    )


async def get_tenant(conn: Connection, *, tenant_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_TENANT_COLUMNS} FROM tenants WHERE id = $1",  # noqa: S608 - fixed column list
        tenant_id,
    )
