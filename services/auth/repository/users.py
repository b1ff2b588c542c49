from __future__ import annotations

from collections.abc import Sequence

from services.auth.repository.rows import LoginCandidate, UserRow
from shared.db import Connection
from shared.pagination import ListParams, keyset
from shared.rows import row, row_or_none, rows

# Never the password hash: rows read through these columns may be rendered.
COLUMNS = "id, tenant_id, email, role, is_active, created_at"


async def insert(
    conn: Connection,
    *,
    user_id: str,
    tenant_id: str,
    email: str,
    password_hash: str,
    role: str,
) -> UserRow | None:
    """None when the email is taken."""
    record = await conn.fetchrow(
        "INSERT INTO users (id, tenant_id, email, password_hash, role) "
        f"VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email) DO NOTHING RETURNING {COLUMNS}",
        user_id,
        tenant_id,
        email,
        password_hash,
        role,
    )
    return row_or_none(UserRow, record)


async def get(conn: Connection, user_id: str) -> UserRow | None:
    record = await conn.fetchrow(f"SELECT {COLUMNS} FROM users WHERE id = $1", user_id)
    return row_or_none(UserRow, record)


async def get_for_login(conn: Connection, email: str) -> LoginCandidate | None:
    """The one read that includes the password hash, with the tenant's status."""
    record = await conn.fetchrow(
        "SELECT u.id, u.tenant_id, u.email, u.role, u.is_active, u.created_at, "
        "u.password_hash, t.status AS tenant_status "
        "FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.email = $1",
        email,
    )
    if record is None:
        return None
    return LoginCandidate(
        user=row(UserRow, record),
        password_hash=record["password_hash"],
        tenant_status=record["tenant_status"],
    )


async def list_page(conn: Connection, *, tenant_id: str, params: ListParams) -> Sequence[UserRow]:
    op, order = keyset(params)
    records = await conn.fetch(
        f"SELECT {COLUMNS} FROM users WHERE tenant_id = $1 "
        f"AND ($2::text IS NULL OR id {op} $2) ORDER BY id {order} LIMIT $3",
        tenant_id,
        params.cursor,
        params.fetch,
    )
    return rows(UserRow, records)


async def deactivate(conn: Connection, user_id: str) -> UserRow | None:
    record = await conn.fetchrow(
        f"UPDATE users SET is_active = false, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}",
        user_id,
    )
    return row_or_none(UserRow, record)


async def deactivate_tenant(conn: Connection, tenant_id: str) -> None:
    await conn.execute(
        "UPDATE users SET is_active = false, updated_at = now() WHERE tenant_id = $1 AND is_active",
        tenant_id,
    )


async def exists_with_email(conn: Connection, email: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM users WHERE email = $1", email))
