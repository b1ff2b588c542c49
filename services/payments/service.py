"""Payments rules. No SQL here (see repository.py) and no HTTP types."""

from __future__ import annotations

from services.payments import repository
from services.payments.errors import PaymentIntentNotFoundError
from services.payments.schemas import PaymentIntent
from shared.db import Connection
from shared.identity import Identity
from shared.pagination import ListParams, page


async def list_payment_intents(
    conn: Connection, identity: Identity, *, params: ListParams
) -> tuple[list[PaymentIntent], bool]:
    rows = await repository.list_payment_intents(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, params=params
    )
    shown, has_more = page(rows, params)
    return [PaymentIntent.from_row(row) for row in shown], has_more


async def get_payment_intent(conn: Connection, identity: Identity, intent_id: str) -> PaymentIntent:
    row = await repository.get_payment_intent(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, intent_id=intent_id
    )
    if row is None:
        raise PaymentIntentNotFoundError(intent_id)
    return PaymentIntent.from_row(row)
