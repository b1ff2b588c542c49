"""Payment attempts: one row per time an intent was sent to a provider."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from shared.db import Connection
from shared.rows import row, row_or_none, rows


@dataclass(frozen=True, slots=True)
class AttemptRow:
    id: str  # the `ch_` the intent's latest_charge shows while this attempt is the latest
    intent_id: str
    tenant_id: str
    livemode: bool
    number: int
    provider: str
    provider_reference: str
    status: str  # pending | requires_action | succeeded | failed | canceled
    error_code: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime


_COLUMNS = (
    "id, intent_id, tenant_id, livemode, number, provider, provider_reference, status, "
    "error_code, error_message, created_at, updated_at"
)


async def insert_attempt(
    conn: Connection,
    *,
    id: str,
    intent_id: str,
    tenant_id: str,
    livemode: bool,
    number: int,
    provider: str,
    provider_reference: str,
) -> AttemptRow:
    record = await conn.fetchrow(
        "INSERT INTO payment_attempts (id, intent_id, tenant_id, livemode, number, provider, "
        "provider_reference, status) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending') "
        f"RETURNING {_COLUMNS}",
        id,
        intent_id,
        tenant_id,
        livemode,
        number,
        provider,
        provider_reference,
    )
    assert record is not None
    return row(AttemptRow, record)


async def get_attempt(conn: Connection, attempt_id: str) -> AttemptRow | None:
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM payment_attempts WHERE id = $1", attempt_id
    )
    return row_or_none(AttemptRow, record)


async def update_attempt(
    conn: Connection,
    attempt_id: str,
    *,
    status: str,
    error_code: str | None,
    error_message: str | None,
) -> AttemptRow:
    record = await conn.fetchrow(
        "UPDATE payment_attempts SET status = $2, error_code = $3, error_message = $4, "
        f"updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}",
        attempt_id,
        status,
        error_code,
        error_message,
    )
    assert record is not None
    return row(AttemptRow, record)


async def follow_attempt(
    conn: Connection,
    attempt_id: str,
    *,
    status: str,
    error_code: str | None,
    error_message: str | None,
    final: Collection[str],
) -> AttemptRow | None:
    """`update_attempt` in one statement unless the attempt is in `status` already or in
    a `final` status (which only a success changes): None then, or for no such attempt."""
    record = await conn.fetchrow(
        "UPDATE payment_attempts SET status = $2, error_code = $3, error_message = $4, "
        "updated_at = now() WHERE id = $1 AND status <> $2 "
        "AND (status <> ALL($5::text[]) OR $2 = 'succeeded') "
        f"RETURNING {_COLUMNS}",
        attempt_id,
        status,
        error_code,
        error_message,
        list(final),
    )
    return row_or_none(AttemptRow, record)


async def list_attempts(conn: Connection, intent_id: str) -> list[AttemptRow]:
    """An intent's attempts, newest first (a list is Stripe's order)."""
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM payment_attempts WHERE intent_id = $1 ORDER BY number DESC",
        intent_id,
    )
    return rows(AttemptRow, records)
