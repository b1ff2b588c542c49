"""The events payments emits, always inside the transaction of the change."""

from __future__ import annotations

from pydantic import BaseModel

from shared import outbox
from shared.db import Connection

# What an intent's new status announces.
INTENT_STATUS_EVENTS = {
    "processing": "payment_intent.processing",
    "requires_action": "payment_intent.requires_action",
    "requires_capture": "payment_intent.amount_capturable_updated",
    "succeeded": "payment_intent.succeeded",
    "canceled": "payment_intent.canceled",
}


async def emit(
    conn: Connection, type: str, obj: BaseModel, *, tenant_id: str, livemode: bool
) -> None:
    # The request id and Idempotency-Key come from the request context when there is one.
    await outbox.emit(conn, None, type=type, data=obj, tenant_id=tenant_id, livemode=livemode)
