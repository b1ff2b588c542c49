"""Operation rows (the state of each money movement) and the wallets' history rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams, keyset

_COLUMNS = """
    id, tenant_id, livemode, type, wallet_id, to_wallet_id, amount, currency, description,
    status, stage, ledger_transaction_id, payment_intent_id, payout_id, source_id, provider,
    payment_method, destination::text AS destination, next_action::text AS next_action,
    failure_code, failure_message, idempotency_key, created_at, updated_at
"""
_HISTORY_COLUMNS = """
    id, tenant_id, livemode, wallet_id, operation_id, type, counterparty, amount, currency,
    status, balance_after, description, created_at
"""
_JSON_FIELDS = frozenset({"destination", "next_action"})


async def insert_operation(
    conn: Connection,
    *,
    id: str,
    tenant_id: str,
    livemode: bool,
    type: str,
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
) -> tuple[asyncpg.Record, bool]:
    """(the row, whether it is new). An operation already made under the same
    Idempotency-Key is returned instead of a second one."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO wallet_operations (id, tenant_id, livemode, type, wallet_id, to_wallet_id,
            amount, currency, description, provider, payment_method, destination,
            idempotency_key, payment_intent_id, source_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14, $15)
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
    )
    if row is not None:
        return row, True
    existing = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM wallet_operations "
        "WHERE tenant_id = $1 AND livemode = $2 AND idempotency_key = $3",
        tenant_id,
        livemode,
        idempotency_key,
    )
    assert existing is not None
    return existing, False


async def insert_history(
    conn: Connection,
    operation: asyncpg.Record,
    entries: Sequence[tuple[str, str, str, str | None]],
) -> None:
    """History rows of the operation: (history id, wallet id, type, counterparty) each."""
    await conn.executemany(
        "INSERT INTO wallet_transactions (id, tenant_id, livemode, wallet_id, operation_id, "
        "type, counterparty, amount, currency, status, description) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        [
            (
                history_id,
                operation["tenant_id"],
                operation["livemode"],
                wallet_id,
                operation["id"],
                type,
                counterparty,
                operation["amount"],
                operation["currency"],
                operation["status"],
                operation["description"],
            )
            for history_id, wallet_id, type, counterparty in entries
        ],
    )


async def get_operation(
    conn: Connection, *, operation_id: str, livemode: bool, tenant_id: str | None
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM wallet_operations WHERE id = $1 AND livemode = $2 "
        "AND ($3::text IS NULL OR tenant_id = $3)",
        operation_id,
        livemode,
        tenant_id,
    )


async def find_operation(conn: Connection, operation_id: str) -> asyncpg.Record | None:
    """By id alone: for the service's own jobs, never for a caller's lookup."""
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM wallet_operations WHERE id = $1", operation_id
    )


async def find_deposit(conn: Connection, payment_intent_id: str) -> asyncpg.Record | None:
    """The deposit a payment intent was made for (payment intent ids are unique)."""
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM wallet_operations "
        "WHERE payment_intent_id = $1 AND type = 'deposit'",
        payment_intent_id,
    )


async def take_lease(
    conn: Connection, operation_id: str, *, driver: str, lease: timedelta
) -> asyncpg.Record | None:
    """The pending operation, now leased to `driver`; None while another driver's lease
    is live (or when the operation is final or unknown)."""
    return await conn.fetchrow(
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


async def renew_lease(
    conn: Connection, operation_id: str, *, driver: str, lease: timedelta
) -> asyncpg.Record | None:
    """The operation, locked until the transaction ends and its lease extended, if the
    lease is still `driver`'s; None if another driver took it over."""
    return await conn.fetchrow(
        f"""
        UPDATE wallet_operations SET driver_until = now() + $3::interval
        WHERE id = $1 AND driver = $2 RETURNING {_COLUMNS}
        """,
        operation_id,
        driver,
        lease,
    )


async def release_lease(conn: Connection, operation_id: str, *, driver: str) -> None:
    await conn.execute(
        "UPDATE wallet_operations SET driver = NULL, driver_until = NULL "
        "WHERE id = $1 AND driver = $2",
        operation_id,
        driver,
    )


async def update_operation(conn: Connection, operation_id: str, **changes: Any) -> asyncpg.Record:
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
    row = await conn.fetchrow(
        f"UPDATE wallet_operations SET {sets}, updated_at = now() WHERE id = $1 "
        f"RETURNING {_COLUMNS}",
        operation_id,
        *values,
    )
    assert row is not None
    return row


async def settle_history(
    conn: Connection,
    operation_id: str,
    *,
    status: str,
    balances: dict[str, int] | None = None,
    counterparty: str | None = None,
) -> None:
    """Set the status of the operation's history rows, with each wallet's balance after."""
    await conn.execute(
        "UPDATE wallet_transactions SET status = $2, "
        "balance_after = COALESCE(($3::jsonb ->> wallet_id)::bigint, balance_after), "
        "counterparty = COALESCE($4, counterparty) WHERE operation_id = $1",
        operation_id,
        status,
        json.dumps(balances or {}),
        counterparty,
    )


async def delete_operation(conn: Connection, operation_id: str) -> None:
    await conn.execute("DELETE FROM wallet_transactions WHERE operation_id = $1", operation_id)
    await conn.execute("DELETE FROM wallet_operations WHERE id = $1", operation_id)


async def claim_due(conn: Connection, *, grace: timedelta, limit: int) -> list[str]:
    """Pending operations nobody touched for `grace` and no live driver holds, marked as
    touched now, so that another replica's round skips them for a while."""
    rows = await conn.fetch(
        """
        UPDATE wallet_operations SET updated_at = now() WHERE id IN (
            SELECT id FROM wallet_operations
            WHERE status = 'pending' AND updated_at < now() - $1::interval
              AND (driver_until IS NULL OR driver_until < now())
            ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED)
        RETURNING id
        """,
        grace,
        limit,
    )
    return [row["id"] for row in rows]


async def list_history(
    conn: Connection,
    *,
    wallet_id: str,
    params: ListParams,
    filters: Sequence[tuple[str, Any]] = (),
) -> Sequence[asyncpg.Record]:
    op, order = keyset(params)
    args: list[Any] = [wallet_id, params.cursor, params.fetch]
    extra = ""
    for column, value in filters:
        args.append(value)
        extra += f" AND {column} = ${len(args)}"
    return await conn.fetch(
        f"SELECT {_HISTORY_COLUMNS} FROM wallet_transactions WHERE wallet_id = $1 "
        f"AND ($2::text IS NULL OR id {op} $2){extra} ORDER BY id {order} LIMIT $3",
        *args,
    )
