"""Customers and the payment methods attached to them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams
from shared.rows import row, row_or_none, rows
from shared.scoped import ScopedTable


@dataclass(frozen=True, slots=True)
class CustomerRow:
    id: str
    tenant_id: str
    livemode: bool
    email: str | None
    name: str | None
    description: str | None
    phone: str | None
    metadata: dict[str, Any]
    created_at: datetime
    deleted_at: datetime | None


@dataclass(frozen=True, slots=True)
class PaymentMethodRow:
    id: str
    tenant_id: str
    livemode: bool
    customer_id: str | None
    # The test method whose card this is (what the simulator charges).
    card_of: str
    created_at: datetime
    detached_at: datetime | None


_CUSTOMER_COLUMNS = (
    "id, tenant_id, livemode, email, name, description, phone, metadata::text AS metadata, "
    "created_at, deleted_at"
)
# Lists show the customers that exist: a deleted one only answers by its id.
_CUSTOMERS = ScopedTable("(SELECT * FROM customers WHERE deleted_at IS NULL) c", _CUSTOMER_COLUMNS)
_UPDATABLE = {"email": "", "name": "", "description": "", "phone": "", "metadata": "::jsonb"}

_METHOD_COLUMNS = "id, tenant_id, livemode, customer_id, card_of, created_at, detached_at"
_METHODS = ScopedTable(
    "(SELECT * FROM payment_methods WHERE customer_id IS NOT NULL) m", _METHOD_COLUMNS
)


def _customer(record: asyncpg.Record) -> CustomerRow:
    return row(CustomerRow, {**record, "metadata": json.loads(record["metadata"])})


def _customer_or_none(record: asyncpg.Record | None) -> CustomerRow | None:
    return None if record is None else _customer(record)


async def insert_customer(conn: Connection, **values: Any) -> CustomerRow | None:
    """The new customer; None when one was made under the same Idempotency-Key already."""
    record = await conn.fetchrow(
        "INSERT INTO customers (id, tenant_id, livemode, email, name, description, phone, "
        "metadata, idempotency_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9) "
        "ON CONFLICT (tenant_id, livemode, idempotency_key) WHERE idempotency_key IS NOT NULL "
        f"DO NOTHING RETURNING {_CUSTOMER_COLUMNS}",
        values["id"],
        values["tenant_id"],
        values["livemode"],
        values["email"],
        values["name"],
        values["description"],
        values["phone"],
        json.dumps(values["metadata"]),
        values["idempotency_key"],
    )
    return _customer_or_none(record)


async def get_customer_by_key(
    conn: Connection, *, tenant_id: str, livemode: bool, idempotency_key: str
) -> CustomerRow | None:
    record = await conn.fetchrow(
        f"SELECT {_CUSTOMER_COLUMNS} FROM customers "
        "WHERE tenant_id = $1 AND livemode = $2 AND idempotency_key = $3",
        tenant_id,
        livemode,
        idempotency_key,
    )
    return _customer_or_none(record)


async def get_customer(
    conn: Connection, *, tenant_id: str, livemode: bool, customer_id: str, lock: bool = False
) -> CustomerRow | None:
    """The customer, deleted or not, in its tenant and mode."""
    record = await conn.fetchrow(
        f"SELECT {_CUSTOMER_COLUMNS} FROM customers "
        "WHERE id = $1 AND tenant_id = $2 AND livemode = $3" + (" FOR UPDATE" if lock else ""),
        customer_id,
        tenant_id,
        livemode,
    )
    return _customer_or_none(record)


async def update_customer(conn: Connection, customer_id: str, **changes: Any) -> CustomerRow:
    assigns = []
    values: list[Any] = [customer_id]
    for name, value in changes.items():
        cast = _UPDATABLE[name]  # KeyError for a column that may not change
        values.append(json.dumps(value) if cast else value)
        assigns.append(f"{name} = ${len(values)}{cast}")
    record = await conn.fetchrow(
        f"UPDATE customers SET {', '.join([*assigns, 'updated_at = now()'])} "
        f"WHERE id = $1 RETURNING {_CUSTOMER_COLUMNS}",
        *values,
    )
    assert record is not None
    return _customer(record)


async def delete_customer(conn: Connection, customer_id: str) -> CustomerRow:
    """Mark it deleted; its payment methods are detached (Stripe's deletion does so)."""
    await conn.execute(
        "UPDATE payment_methods SET customer_id = NULL, detached_at = now() WHERE customer_id = $1",
        customer_id,
    )
    record = await conn.fetchrow(
        "UPDATE customers SET deleted_at = now(), updated_at = now() "
        f"WHERE id = $1 RETURNING {_CUSTOMER_COLUMNS}",
        customer_id,
    )
    assert record is not None
    return _customer(record)


async def list_customers(
    conn: Connection, *, tenant_id: str, livemode: bool, params: ListParams, email: str | None
) -> list[CustomerRow]:
    filters = [("email", email)] if email is not None else []
    records = await _CUSTOMERS.page(
        conn, tenant_id=tenant_id, livemode=livemode, params=params, filters=filters
    )
    return [_customer(record) for record in records]


# -- payment methods ---------------------------------------------------------------------------


async def insert_method(
    conn: Connection,
    *,
    method_id: str,
    tenant_id: str,
    livemode: bool,
    customer_id: str,
    card_of: str,
    idempotency_key: str | None,
) -> PaymentMethodRow | None:
    """The new method; None when one was made under the same Idempotency-Key already."""
    record = await conn.fetchrow(
        "INSERT INTO payment_methods (id, tenant_id, livemode, customer_id, card_of, "
        "idempotency_key) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (tenant_id, livemode, idempotency_key) WHERE idempotency_key IS NOT NULL "
        f"DO NOTHING RETURNING {_METHOD_COLUMNS}",
        method_id,
        tenant_id,
        livemode,
        customer_id,
        card_of,
        idempotency_key,
    )
    return row_or_none(PaymentMethodRow, record)


async def get_method_by_key(
    conn: Connection, *, tenant_id: str, livemode: bool, idempotency_key: str
) -> PaymentMethodRow | None:
    record = await conn.fetchrow(
        f"SELECT {_METHOD_COLUMNS} FROM payment_methods "
        "WHERE tenant_id = $1 AND livemode = $2 AND idempotency_key = $3",
        tenant_id,
        livemode,
        idempotency_key,
    )
    return row_or_none(PaymentMethodRow, record)


async def get_method(
    conn: Connection, *, tenant_id: str, livemode: bool, method_id: str, lock: bool = False
) -> PaymentMethodRow | None:
    record = await conn.fetchrow(
        f"SELECT {_METHOD_COLUMNS} FROM payment_methods "
        "WHERE id = $1 AND tenant_id = $2 AND livemode = $3" + (" FOR UPDATE" if lock else ""),
        method_id,
        tenant_id,
        livemode,
    )
    return row_or_none(PaymentMethodRow, record)


async def detach_method(conn: Connection, method_id: str) -> PaymentMethodRow:
    record = await conn.fetchrow(
        "UPDATE payment_methods SET customer_id = NULL, detached_at = now() "
        f"WHERE id = $1 RETURNING {_METHOD_COLUMNS}",
        method_id,
    )
    assert record is not None
    return row(PaymentMethodRow, record)


async def list_methods(
    conn: Connection,
    *,
    tenant_id: str,
    livemode: bool,
    params: ListParams,
    customer_id: str | None,
) -> list[PaymentMethodRow]:
    """Attached methods (of one customer, or of every customer of the tenant)."""
    filters = [("customer_id", customer_id)] if customer_id is not None else []
    records = await _METHODS.page(
        conn, tenant_id=tenant_id, livemode=livemode, params=params, filters=filters
    )
    return rows(PaymentMethodRow, records)
