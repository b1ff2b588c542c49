"""The ledger outbox: postings owed to the ledger, until it acknowledges them."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from shared.db import Connection


async def insert_outbox(
    conn: Connection,
    *,
    outbox_id: str,
    tenant_id: str,
    livemode: bool,
    reference_id: str,
    body: dict[str, Any],
) -> None:
    await conn.execute(
        "INSERT INTO ledger_outbox (id, tenant_id, livemode, reference_id, body) "
        "VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (reference_id) DO NOTHING",
        outbox_id,
        tenant_id,
        livemode,
        reference_id,
        json.dumps(body),
    )


async def next_due(conn: Connection) -> asyncpg.Record | None:
    """One unposted row whose time has come, locked; other relays skip it."""
    return await conn.fetchrow(
        """
        SELECT id, tenant_id, livemode, reference_id, body::text AS body, attempts
        FROM ledger_outbox WHERE posted_at IS NULL AND next_attempt <= now()
        ORDER BY next_attempt LIMIT 1 FOR UPDATE SKIP LOCKED
        """
    )


async def mark_posted(conn: Connection, outbox_id: str) -> None:
    await conn.execute("UPDATE ledger_outbox SET posted_at = now() WHERE id = $1", outbox_id)


async def mark_failed(conn: Connection, outbox_id: str, *, error: str, delay: float) -> None:
    await conn.execute(
        "UPDATE ledger_outbox SET attempts = attempts + 1, last_error = $2, "
        "next_attempt = now() + make_interval(secs => $3) WHERE id = $1",
        outbox_id,
        error[:1000],
        delay,
    )


async def try_lock_outbox(conn: Connection, reference_id: str) -> asyncpg.Record | bool | None:
    """The unposted row for a reference, locked; True when it is already posted; None when
    another relay holds it (or there is none)."""
    row = await conn.fetchrow(
        "SELECT id, tenant_id, livemode, reference_id, body::text AS body, attempts, posted_at "
        "FROM ledger_outbox WHERE reference_id = $1 FOR UPDATE SKIP LOCKED",
        reference_id,
    )
    if row is None:
        return None
    if row["posted_at"] is not None:
        return True
    return row


async def unposted(conn: Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM ledger_outbox WHERE posted_at IS NULL"))
