"""The events payments emits, always inside the transaction of the change.

Inside `batched(conn)` (an intent's change: created, its attempt, its new status, the
attempt's outcome) the events emitted on that connection are written in one statement when
the block ends, still inside the transaction and in the order they were emitted: one round
trip instead of one per event. Anywhere else an event is written at once.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from pydantic import BaseModel

from shared import outbox
from shared.db import Connection
from shared.identity import Identity

# What an intent's new status announces.
INTENT_STATUS_EVENTS = {
    "processing": "payment_intent.processing",
    "requires_action": "payment_intent.requires_action",
    "requires_capture": "payment_intent.amount_capturable_updated",
    "succeeded": "payment_intent.succeeded",
    "canceled": "payment_intent.canceled",
}

# (type, object, tenant, livemode) per event held back by `batched`.
_Held = tuple[str, BaseModel, str, bool]
_held: contextvars.ContextVar[tuple[Connection, list[_Held]] | None] = contextvars.ContextVar(
    "micro_payments_held_events", default=None
)


async def emit(
    conn: Connection, type: str, obj: BaseModel, *, tenant_id: str, livemode: bool
) -> None:
    held = _held.get()
    if held is not None and held[0] is conn:
        held[1].append((type, obj, tenant_id, livemode))
        return
    # The request id and Idempotency-Key come from the request context when there is one.
    await outbox.emit(conn, None, type=type, data=obj, tenant_id=tenant_id, livemode=livemode)


@asynccontextmanager
async def batched(conn: Connection) -> AsyncIterator[None]:
    """Events emitted on `conn` in the block, written together when it ends (not when it
    raises: the transaction rolls back then, and they with it)."""
    held: list[_Held] = []
    token = _held.set((conn, held))
    try:
        yield
    finally:
        _held.reset(token)
    await _write(conn, held)


async def _write(conn: Connection, held: list[_Held]) -> None:
    start = 0
    # One statement per run of events of one tenant and mode (a change has one).
    while start < len(held):
        _, _, tenant_id, livemode = held[start]
        end = start
        while end < len(held) and held[end][2:] == (tenant_id, livemode):
            end += 1
        scope = Identity(
            principal="payments", principal_type="service", tenant_id=tenant_id,
            livemode=livemode,
        )  # fmt: skip
        events: list[tuple[str, Mapping[str, Any] | BaseModel]] = [
            (type, obj) for type, obj, _, _ in held[start:end]
        ]
        await outbox.emit_many(conn, scope, events)
        start = end
