"""All SQL of payments."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams
from shared.scoped import ScopedTable

_INTENT_COLUMNS = """
    id, tenant_id, livemode, amount, amount_capturable, amount_received, currency, status,
    capture_method, provider, payment_method, description, metadata::text AS metadata,
    receipt_email, wallet_id, last_payment_error::text AS last_payment_error,
    next_action::text AS next_action, cancellation_reason, canceled_at, created_at
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
}

_TABLE = ScopedTable("payment_intents", _INTENT_COLUMNS)


async def insert_intent(conn: Connection, **values: Any) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        INSERT INTO payment_intents (id, tenant_id, livemode, amount, currency, status,
            capture_method, provider, payment_method, description, metadata, receipt_email,
            wallet_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13)
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
    )
    assert row is not None
    return row


async def lock_intent(
    conn: Connection, *, tenant_id: str, livemode: bool, intent_id: str
) -> asyncpg.Record | None:
    """The intent, locked: one state change at a time."""
    return await conn.fetchrow(
        f"SELECT {_INTENT_COLUMNS} FROM payment_intents "
        "WHERE id = $1 AND tenant_id = $2 AND livemode = $3 FOR UPDATE",
        intent_id,
        tenant_id,
        livemode,
    )


async def lock_intent_by_id(conn: Connection, intent_id: str) -> asyncpg.Record | None:
    """Unscoped: for a customer's own page, which carries its intent's secret token instead."""
    return await conn.fetchrow(
        f"SELECT {_INTENT_COLUMNS} FROM payment_intents WHERE id = $1 FOR UPDATE", intent_id
    )


async def update_intent(conn: Connection, intent_id: str, **changes: Any) -> asyncpg.Record:
    assigns = []
    values: list[Any] = [intent_id]
    for name, value in changes.items():
        cast = _UPDATABLE[name]  # KeyError for a column that may not change
        values.append(json.dumps(value) if cast and value is not None else value)
        assigns.append(f"{name} = ${len(values)}{cast}")
    row = await conn.fetchrow(
        f"UPDATE payment_intents SET {', '.join(assigns)}, updated_at = now() "
        f"WHERE id = $1 RETURNING {_INTENT_COLUMNS}",
        *values,
    )
    assert row is not None
    return row


async def list_payment_intents(
    conn: Connection, *, tenant_id: str, livemode: bool, params: ListParams
) -> Sequence[asyncpg.Record]:
    return await _TABLE.page(conn, tenant_id=tenant_id, livemode=livemode, params=params)


async def get_payment_intent(
    conn: Connection, *, tenant_id: str, livemode: bool, intent_id: str
) -> asyncpg.Record | None:
    return await _TABLE.get(conn, tenant_id=tenant_id, livemode=livemode, row_id=intent_id)


# -- the ledger outbox -----------------------------------------------------------------------


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


async def unposted(conn: Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM ledger_outbox WHERE posted_at IS NULL"))


# -- refunds ---------------------------------------------------------------------------------

_REFUND_COLUMNS = (
    "id, tenant_id, livemode, payment_intent_id, amount, currency, status, reason, created_at"
)
_REFUNDS = ScopedTable("refunds", _REFUND_COLUMNS)


async def refunded_total(conn: Connection, intent_id: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT coalesce(sum(amount), 0) FROM refunds "
            "WHERE payment_intent_id = $1 AND status <> 'failed'",
            intent_id,
        )
    )


async def insert_refund(
    conn: Connection,
    *,
    refund_id: str,
    tenant_id: str,
    livemode: bool,
    intent_id: str,
    amount: int,
    currency: str,
    reason: str | None,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO refunds (id, tenant_id, livemode, payment_intent_id, amount, currency, "
        f"reason) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_REFUND_COLUMNS}",
        refund_id,
        tenant_id,
        livemode,
        intent_id,
        amount,
        currency,
        reason,
    )
    assert row is not None
    return row


async def list_refunds(
    conn: Connection,
    *,
    tenant_id: str,
    livemode: bool,
    params: ListParams,
    intent_id: str | None,
) -> Sequence[asyncpg.Record]:
    filters = [("payment_intent_id", intent_id)] if intent_id else []
    return await _REFUNDS.page(
        conn, tenant_id=tenant_id, livemode=livemode, params=params, filters=filters
    )


async def get_refund(
    conn: Connection, *, tenant_id: str, livemode: bool, refund_id: str
) -> asyncpg.Record | None:
    return await _REFUNDS.get(conn, tenant_id=tenant_id, livemode=livemode, row_id=refund_id)


# -- payouts ---------------------------------------------------------------------------------

_PAYOUT_COLUMNS = (
    "id, tenant_id, livemode, amount, currency, status, provider, destination::text AS "
    "destination, description, metadata::text AS metadata, failure_code, failure_message, "
    "created_at"
)
_PAYOUTS = ScopedTable("payouts", _PAYOUT_COLUMNS)


async def insert_payout(conn: Connection, **values: Any) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO payouts (id, tenant_id, livemode, amount, currency, status, provider, "
        "destination, description, metadata, failure_code, failure_message) VALUES "
        "($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10::jsonb, $11, $12) "
        f"RETURNING {_PAYOUT_COLUMNS}",
        values["id"],
        values["tenant_id"],
        values["livemode"],
        values["amount"],
        values["currency"],
        values["status"],
        values["provider"],
        json.dumps(values["destination"]),
        values["description"],
        json.dumps(values["metadata"]),
        values["failure_code"],
        values["failure_message"],
    )
    assert row is not None
    return row


async def list_payouts(
    conn: Connection, *, tenant_id: str, livemode: bool, params: ListParams
) -> Sequence[asyncpg.Record]:
    return await _PAYOUTS.page(conn, tenant_id=tenant_id, livemode=livemode, params=params)


async def get_payout(
    conn: Connection, *, tenant_id: str, livemode: bool, payout_id: str
) -> asyncpg.Record | None:
    return await _PAYOUTS.get(conn, tenant_id=tenant_id, livemode=livemode, row_id=payout_id)
