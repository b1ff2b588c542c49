"""Payment intents."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams, keyset
from shared.rows import row
from shared.scoped import ScopedTable


@dataclass(frozen=True, slots=True)
class IntentRow:
    """A payment intent as stored; its jsonb columns decoded."""

    id: str
    tenant_id: str
    livemode: bool
    amount: int
    amount_capturable: int
    amount_received: int
    currency: str
    status: str
    capture_method: str
    provider: str
    payment_method: str | None
    description: str | None
    metadata: dict[str, Any]
    receipt_email: str | None
    wallet_id: str | None
    last_payment_error: dict[str, Any] | None
    next_action: dict[str, Any] | None
    cancellation_reason: str | None
    canceled_at: datetime | None
    created_at: datetime
    # 'platform' or 'tenant': whose provider account the intent goes through.
    provider_account: str
    # Confirmations sent to a provider so far (each names its own provider reference).
    attempts: int
    customer_id: str | None
    # The `ch_` id the latest attempt is shown under; None before the first.
    latest_charge: str | None


_INTENT_COLUMNS = """
    id, tenant_id, livemode, amount, amount_capturable, amount_received, currency, status,
    capture_method, provider, payment_method, description, metadata::text AS metadata,
    receipt_email, wallet_id, last_payment_error::text AS last_payment_error,
    next_action::text AS next_action, cancellation_reason, canceled_at, created_at,
    provider_account, attempts, customer_id, latest_charge
"""
# The columns a state change may set; jsonb ones take JSON text.
_UPDATABLE = {
    "amount": "",
    "amount_capturable": "",
    "amount_received": "",
    "currency": "",
    "status": "",
    "payment_method": "",
    "description": "",
    "metadata": "::jsonb",
    "receipt_email": "",
    "last_payment_error": "::jsonb",
    "next_action": "::jsonb",
    "cancellation_reason": "",
    "canceled_at": "",
    "attempts": "",
    "customer_id": "",
    "latest_charge": "",
    # A routed intent moves to the provider of its current attempt (service/failover.py).
    "provider": "",
    "provider_account": "",
}

_TABLE = ScopedTable("payment_intents", _INTENT_COLUMNS)


def _intent(record: asyncpg.Record) -> IntentRow:
    return row(
        IntentRow,
        {
            **record,
            "metadata": json.loads(record["metadata"]),
            "last_payment_error": _json(record["last_payment_error"]),
            "next_action": _json(record["next_action"]),
        },
    )


def _intent_or_none(record: asyncpg.Record | None) -> IntentRow | None:
    return None if record is None else _intent(record)


def _json(value: str | None) -> dict[str, Any] | None:
    decoded: dict[str, Any] | None = json.loads(value) if value else None
    return decoded


async def insert_intent(conn: Connection, **values: Any) -> IntentRow | None:
    """The new intent; None when one was made under the same Idempotency-Key already."""
    record = await conn.fetchrow(
        f"""
        INSERT INTO payment_intents (id, tenant_id, livemode, amount, currency, status,
            capture_method, provider, payment_method, description, metadata, receipt_email,
            wallet_id, provider_account, idempotency_key, customer_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14, $15, $16)
        ON CONFLICT (tenant_id, livemode, idempotency_key) WHERE idempotency_key IS NOT NULL
            DO NOTHING
        RETURNING {_INTENT_COLUMNS}
        """,
        values["id"],
        values["tenant_id"],
        values["livemode"],
        values["amount"],
        values["currency"],
        values["status"],
        values["capture_method"],
        values["provider"],
        values["payment_method"],
        values["description"],
        json.dumps(values["metadata"]),
        values["receipt_email"],
        values["wallet_id"],
        values["provider_account"],
        values["idempotency_key"],
        values["customer_id"],
    )
    return _intent_or_none(record)


async def lock_intent_by_key(
    conn: Connection, *, tenant_id: str, livemode: bool, idempotency_key: str
) -> IntentRow | None:
    record = await conn.fetchrow(
        f"SELECT {_INTENT_COLUMNS} FROM payment_intents "
        "WHERE tenant_id = $1 AND livemode = $2 AND idempotency_key = $3 FOR UPDATE",
        tenant_id,
        livemode,
        idempotency_key,
    )
    return _intent_or_none(record)


async def lock_intent(
    conn: Connection, *, tenant_id: str, livemode: bool, intent_id: str
) -> IntentRow | None:
    """The intent, locked: one state change at a time."""
    record = await conn.fetchrow(
        f"SELECT {_INTENT_COLUMNS} FROM payment_intents "
        "WHERE id = $1 AND tenant_id = $2 AND livemode = $3 FOR UPDATE",
        intent_id,
        tenant_id,
        livemode,
    )
    return _intent_or_none(record)


async def lock_intent_by_id(conn: Connection, intent_id: str) -> IntentRow | None:
    """Unscoped: for a customer's own page, which carries its intent's secret token instead."""
    record = await conn.fetchrow(
        f"SELECT {_INTENT_COLUMNS} FROM payment_intents WHERE id = $1 FOR UPDATE", intent_id
    )
    return _intent_or_none(record)


async def lock_intent_for_account(
    conn: Connection, *, intent_id: str, provider: str, account: str, livemode: bool | None
) -> IntentRow | None:
    """The intent a provider's webhook names, only if it went through that provider account
    ('platform', or a tenant id for the tenant's own account in that mode)."""
    if account == "platform":
        record = await conn.fetchrow(
            f"SELECT {_INTENT_COLUMNS} FROM payment_intents WHERE id = $1 AND provider = $2 "
            # A platform account serves one mode: its webhooks name that mode's objects.
            "AND provider_account = 'platform' AND ($3::boolean IS NULL OR livemode = $3) "
            "FOR UPDATE",
            intent_id,
            provider,
            livemode,
        )
        return _intent_or_none(record)
    record = await conn.fetchrow(
        f"SELECT {_INTENT_COLUMNS} FROM payment_intents WHERE id = $1 AND provider = $2 "
        "AND provider_account = 'tenant' AND tenant_id = $3 AND livemode = $4 FOR UPDATE",
        intent_id,
        provider,
        account,
        livemode,
    )
    return _intent_or_none(record)


async def stale_intents(
    conn: Connection, *, statuses: Sequence[str], older_than: float, limit: int = 100
) -> list[str]:
    rows = await conn.fetch(
        "SELECT id FROM payment_intents WHERE status = ANY($1::text[]) "
        "AND updated_at < now() - make_interval(secs => $2) ORDER BY updated_at LIMIT $3",
        list(statuses),
        older_than,
        limit,
    )
    return [r["id"] for r in rows]


async def update_intent(conn: Connection, intent_id: str, **changes: Any) -> IntentRow:
    assigns = []
    values: list[Any] = [intent_id]
    for name, value in changes.items():
        cast = _UPDATABLE[name]  # KeyError for a column that may not change
        values.append(json.dumps(value) if cast and value is not None else value)
        assigns.append(f"{name} = ${len(values)}{cast}")
    record = await conn.fetchrow(
        f"UPDATE payment_intents SET {', '.join(assigns)}, updated_at = now() "
        f"WHERE id = $1 RETURNING {_INTENT_COLUMNS}",
        *values,
    )
    assert record is not None
    return _intent(record)


async def list_intents(
    conn: Connection,
    *,
    tenant_id: str,
    livemode: bool,
    params: ListParams,
    status: str | None = None,
    provider: str | None = None,
    created: Mapping[str, int] | None = None,
) -> list[IntentRow]:
    """One page in walking order (see shared.pagination). `status` and `provider` are
    equality filters (each served by its own (tenant, mode, column, id) index); `created`
    maps an operator (one of < <= > >=) to unix seconds."""
    filters = [
        *([("status", status)] if status is not None else []),
        *([("provider", provider)] if provider is not None else []),
    ]
    if not created:
        records = await _TABLE.page(
            conn, tenant_id=tenant_id, livemode=livemode, params=params, filters=filters
        )
        return [_intent(record) for record in records]
    op, order = keyset(params)
    args: list[Any] = [tenant_id, livemode, params.cursor, params.fetch]
    conditions = ""
    for column, value in filters:
        args.append(value)
        conditions += f" AND {column} = ${len(args)}"
    for operator, seconds in created.items():
        if operator not in ("<", "<=", ">", ">="):
            raise ValueError(operator)
        args.append(seconds)
        conditions += f" AND created_at {operator} to_timestamp(${len(args)})"
    records = await conn.fetch(
        f"SELECT {_INTENT_COLUMNS} FROM payment_intents "
        f"WHERE tenant_id = $1 AND livemode = $2 AND ($3::text IS NULL OR id {op} $3)"
        f"{conditions} ORDER BY id {order} LIMIT $4",
        *args,
    )
    return [_intent(record) for record in records]


@dataclass(frozen=True, slots=True)
class VolumeRow:
    day: date
    currency: str
    count: int
    amount: int


async def succeeded_volume(
    conn: Connection, *, tenant_id: str, livemode: bool, since: datetime
) -> list[VolumeRow]:
    """Succeeded intents created since `since`, counted and summed (amount received) per UTC
    day and currency, oldest day first."""
    records = await conn.fetch(
        """
        SELECT (created_at AT TIME ZONE 'UTC')::date AS day, currency,
               count(*) AS count, sum(amount_received)::bigint AS amount
        FROM payment_intents
        WHERE tenant_id = $1 AND livemode = $2 AND status = 'succeeded' AND created_at >= $3
        GROUP BY day, currency
        ORDER BY day, currency
        """,
        tenant_id,
        livemode,
        since,
    )
    return [row(VolumeRow, record) for record in records]


async def get_intent(
    conn: Connection, *, tenant_id: str, livemode: bool, intent_id: str
) -> IntentRow | None:
    record = await _TABLE.get(conn, tenant_id=tenant_id, livemode=livemode, row_id=intent_id)
    return _intent_or_none(record)
