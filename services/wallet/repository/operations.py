"""The `wallet_operations` table: one row per money movement and the state of its saga."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import asyncpg

from shared.db import Connection
from shared.rows import row

_COLUMNS = """
    id, tenant_id, livemode, type, wallet_id, to_wallet_id, amount, currency, description,
    status, stage, ledger_transaction_id, payment_intent_id, payout_id, source_id, provider,
    payment_method, destination::text AS destination, next_action::text AS next_action,
    failure_code, failure_message, idempotency_key, created_at, updated_at, payout_attempt,
    retries, next_attempt_at, last_error_code, last_error_message, driver
"""
_JSON_FIELDS = frozenset({"destination", "next_action"})

# The columns' CHECKs.
OperationType = Literal["deposit", "transfer", "withdrawal", "refund", "reversal"]
OperationStatus = Literal["pending", "succeeded", "failed"]
# How far a withdrawal got (the others go from 'new' to 'done').
Stage = Literal["new", "held", "paying", "done"]


@dataclass(frozen=True, slots=True)
class OperationRow:
    id: str
    tenant_id: str
    livemode: bool
    type: OperationType
    wallet_id: str
    to_wallet_id: str | None
    amount: int
    currency: str
    description: str | None
    status: OperationStatus
    stage: Stage
    ledger_transaction_id: str | None
    payment_intent_id: str | None
    payout_id: str | None
    source_id: str | None
    provider: str | None
    payment_method: str | None
    # The jsonb columns, decoded.
    destination: dict[str, Any] | None
    next_action: dict[str, Any] | None
    failure_code: str | None
    failure_message: str | None
    idempotency_key: str | None
    created_at: datetime
    updated_at: datetime
    # A withdrawal's payout tries (migration 0005): which payout it asks for now, how many
    # failed for want of a reachable provider, when to try next, and the last reason.
    payout_attempt: int = 1
    retries: int = 0
    next_attempt_at: datetime | None = None
    last_error_code: str | None = None
    last_error_message: str | None = None
    # The token of the driver leasing it (migration 0003), if any.
    driver: str | None = None


def _operation(record: asyncpg.Record) -> OperationRow:
    decoded = {
        name: None if record[name] is None else json.loads(record[name]) for name in _JSON_FIELDS
    }
    return row(OperationRow, {**dict(record), **decoded})


def _operation_or_none(record: asyncpg.Record | None) -> OperationRow | None:
    return None if record is None else _operation(record)


async def insert_operation(
    conn: Connection,
    *,
    id: str,
    tenant_id: str,
    livemode: bool,
    type: OperationType,
    wallet_id: str,
    to_wallet_id: str | None,
    amount: int,
    currency: str,
    description: str | None,
    provider: str | None = None,
    payment_method: str | None = None,
    destination: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    payment_intent_id: str | None = None,
    source_id: str | None = None,
    driver: str | None = None,
    lease: timedelta | None = None,
) -> tuple[OperationRow, bool]:
    """(the row, whether it is new). An operation already made under the same
    Idempotency-Key is returned instead of a second one. With `driver` and `lease`, a new
    row is written leased to that driver (as `take_lease` would lease it)."""
    record = await conn.fetchrow(
        f"""
        INSERT INTO wallet_operations (id, tenant_id, livemode, type, wallet_id, to_wallet_id,
            amount, currency, description, provider, payment_method, destination,
            idempotency_key, payment_intent_id, source_id, driver, driver_until)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14, $15,
            $16, now() + $17::interval)
        ON CONFLICT (tenant_id, livemode, idempotency_key) WHERE idempotency_key IS NOT NULL
        DO NOTHING RETURNING {_COLUMNS}
        """,
        id,
        tenant_id,
        livemode,
        type,
        wallet_id,
        to_wallet_id,
        amount,
        currency,
        description,
        provider,
        payment_method,
        json.dumps(destination) if destination is not None else None,
        idempotency_key,
        payment_intent_id,
        source_id,
        driver,
        lease if driver is not None else None,
    )
    if record is not None:
        return _operation(record), True
    existing = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM wallet_operations "
        "WHERE tenant_id = $1 AND livemode = $2 AND idempotency_key = $3",
        tenant_id,
        livemode,
        idempotency_key,
    )
    assert existing is not None
    return _operation(existing), False


async def get_operation(
    conn: Connection, *, operation_id: str, livemode: bool, tenant_id: str | None
) -> OperationRow | None:
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM wallet_operations WHERE id = $1 AND livemode = $2 "
        "AND ($3::text IS NULL OR tenant_id = $3)",
        operation_id,
        livemode,
        tenant_id,
    )
    return _operation_or_none(record)


async def find_by_key(
    conn: Connection, *, tenant_id: str, livemode: bool, idempotency_key: str
) -> OperationRow | None:
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM wallet_operations "
        "WHERE tenant_id = $1 AND livemode = $2 AND idempotency_key = $3",
        tenant_id,
        livemode,
        idempotency_key,
    )
    return None if record is None else _operation(record)


async def find_operation(conn: Connection, operation_id: str) -> OperationRow | None:
    """By id alone: for the service's own jobs, never for a caller's lookup."""
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM wallet_operations WHERE id = $1", operation_id
    )
    return _operation_or_none(record)


async def find_deposit(conn: Connection, payment_intent_id: str) -> OperationRow | None:
    """The deposit a payment intent was made for (payment intent ids are unique)."""
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM wallet_operations "
        "WHERE payment_intent_id = $1 AND type = 'deposit'",
        payment_intent_id,
    )
    return _operation_or_none(record)


async def take_lease(
    conn: Connection, operation_id: str, *, driver: str, lease: timedelta
) -> OperationRow | None:
    """The pending operation, now leased to `driver`; None while another driver's lease
    is live (or when the operation is final or unknown)."""
    record = await conn.fetchrow(
        f"""
        UPDATE wallet_operations SET driver = $2, driver_until = now() + $3::interval
        WHERE id = $1 AND status = 'pending'
          AND (driver IS NULL OR driver = $2 OR driver_until < now())
        RETURNING {_COLUMNS}
        """,
        operation_id,
        driver,
        lease,
    )
    return _operation_or_none(record)


async def renew_lease(
    conn: Connection, operation_id: str, *, driver: str, lease: timedelta
) -> OperationRow | None:
    """The operation, locked until the transaction ends and its lease extended, if the
    lease is still `driver`'s; None if another driver took it over."""
    record = await conn.fetchrow(
        f"""
        UPDATE wallet_operations SET driver_until = now() + $3::interval
        WHERE id = $1 AND driver = $2 RETURNING {_COLUMNS}
        """,
        operation_id,
        driver,
        lease,
    )
    return _operation_or_none(record)


async def release_lease(conn: Connection, operation_id: str, *, driver: str) -> None:
    await conn.execute(
        "UPDATE wallet_operations SET driver = NULL, driver_until = NULL "
        "WHERE id = $1 AND driver = $2",
        operation_id,
        driver,
    )


async def update_operation(conn: Connection, operation_id: str, **changes: Any) -> OperationRow:
    names = list(changes)
    sets = ", ".join(
        f"{name} = ${i + 2}" + ("::jsonb" if name in _JSON_FIELDS else "")
        for i, name in enumerate(names)
    )
    values = [
        json.dumps(changes[name]) if name in _JSON_FIELDS and changes[name] is not None
        else changes[name]
        for name in names
    ]  # fmt: skip
    record = await conn.fetchrow(
        f"UPDATE wallet_operations SET {sets}, updated_at = now() WHERE id = $1 "
        f"RETURNING {_COLUMNS}",
        operation_id,
        *values,
    )
    assert record is not None
    return _operation(record)


async def claim_due(conn: Connection, *, grace: timedelta, limit: int) -> list[str]:
    """Pending operations nobody touched for `grace`, that no live driver holds and whose
    next try (a withdrawal backing off) is due, marked as touched now, so that another
    replica's round skips them for a while."""
    records = await conn.fetch(
        """
        UPDATE wallet_operations SET updated_at = now() WHERE id IN (
            SELECT id FROM wallet_operations
            WHERE status = 'pending' AND updated_at < now() - $1::interval
              AND (driver_until IS NULL OR driver_until < now())
              AND (next_attempt_at IS NULL OR next_attempt_at <= now())
            ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED)
        RETURNING id
        """,
        grace,
        limit,
    )
    return [record["id"] for record in records]


async def ledger_backlog(conn: Connection) -> tuple[int, float | None]:
    """(operations whose next step is a posting of the wallet's own to the ledger, the
    oldest one's age in seconds or None): a pending transfer or reversal, a withdrawal
    whose hold is not placed yet. Deposits and refunds are posted by payments."""
    record = await conn.fetchrow(
        "SELECT count(*) AS pending,"
        " extract(epoch FROM now() - min(created_at))::float8 AS oldest"
        " FROM wallet_operations WHERE status = 'pending'"
        " AND (type IN ('transfer', 'reversal') OR (type = 'withdrawal' AND stage = 'new'))"
    )
    assert record is not None
    oldest = record["oldest"]
    return int(record["pending"]), None if oldest is None else max(0.0, float(oldest))
