from __future__ import annotations

from datetime import datetime

from services.auth.repository.rows import LockedRefreshToken, UserRow
from shared.db import Connection, Pool
from shared.retention import delete_in_batches
from shared.rows import row


async def insert(conn: Connection, *, session_id: str, user_id: str, expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO sessions (id, user_id, expires_at) VALUES ($1, $2, $3)",
        session_id,
        user_id,
        expires_at,
    )


async def insert_refresh_token(conn: Connection, *, token_hash: str, session_id: str) -> None:
    await conn.execute(
        "INSERT INTO refresh_tokens (token_hash, session_id) VALUES ($1, $2)",
        token_hash,
        session_id,
    )


async def lock_refresh_token(conn: Connection, token_hash: str) -> LockedRefreshToken | None:
    """The token with its session and user, locked so two refreshes cannot both win."""
    record = await conn.fetchrow(
        """
        SELECT r.token_hash, r.used_at, s.id AS session_id, s.revoked_at, s.expires_at,
               u.id, u.tenant_id, u.email, u.role, u.is_active, u.created_at,
               t.status AS tenant_status
        FROM refresh_tokens r
        JOIN sessions s ON s.id = r.session_id
        JOIN users u ON u.id = s.user_id
        JOIN tenants t ON t.id = u.tenant_id
        WHERE r.token_hash = $1
        FOR UPDATE OF r, s
        """,
        token_hash,
    )
    if record is None:
        return None
    return LockedRefreshToken(
        token_hash=record["token_hash"],
        used_at=record["used_at"],
        session_id=record["session_id"],
        session_revoked_at=record["revoked_at"],
        session_expires_at=record["expires_at"],
        user=row(UserRow, record),
        tenant_status=record["tenant_status"],
    )


async def mark_used(conn: Connection, token_hash: str) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1", token_hash
    )


async def revoke(conn: Connection, session_id: str, *, reason: str) -> bool:
    status = await conn.execute(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $2 "
        "WHERE id = $1 AND revoked_at IS NULL",
        session_id,
        reason,
    )
    return bool(status.endswith(" 1"))


async def revoke_for_users(conn: Connection, user_ids: list[str], *, reason: str) -> list[str]:
    records = await conn.fetch(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $2 "
        "WHERE user_id = ANY($1::text[]) AND revoked_at IS NULL AND expires_at > now() "
        "RETURNING id",
        user_ids,
        reason,
    )
    return [record["id"] for record in records]


async def revoke_for_tenant(conn: Connection, tenant_id: str, *, reason: str) -> list[str]:
    records = await conn.fetch(
        "UPDATE sessions s SET revoked_at = now(), revoked_reason = $2 FROM users u "
        "WHERE u.id = s.user_id AND u.tenant_id = $1 AND s.revoked_at IS NULL "
        "AND s.expires_at > now() RETURNING s.id",
        tenant_id,
        reason,
    )
    return [record["id"] for record in records]


async def purge_ended(pool: Pool, *, older_than_seconds: float) -> int:
    """Delete sessions that ended (expired or revoked) before the cutoff, with their refresh
    tokens, in batches. A live session is never touched: it has not ended."""
    return await delete_in_batches(
        pool,
        """
        WITH doomed AS (
            SELECT id FROM sessions
            WHERE least(expires_at, revoked_at) < now() - make_interval(secs => $1)
            ORDER BY least(expires_at, revoked_at) LIMIT $2
            FOR UPDATE SKIP LOCKED
        ), tokens AS (
            DELETE FROM refresh_tokens r USING doomed WHERE r.session_id = doomed.id
        )
        DELETE FROM sessions s USING doomed WHERE s.id = doomed.id
        """,
        older_than_seconds,
    )
