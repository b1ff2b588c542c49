"""Request and response models of the payments API."""

from __future__ import annotations

import json
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel

from shared.timeutil import unix

PaymentIntentStatus = Literal[
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "processing",
    "requires_capture",
    "succeeded",
    "canceled",
]
CaptureMethod = Literal["automatic", "manual"]


class PaymentIntent(BaseModel):
    id: str
    object: Literal["payment_intent"] = "payment_intent"
    amount: int
    amount_received: int
    currency: str
    status: PaymentIntentStatus
    capture_method: CaptureMethod
    provider: str
    payment_method: str | None
    description: str | None
    metadata: dict[str, Any]
    livemode: bool
    created: int

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> PaymentIntent:
        return cls(
            id=row["id"],
            amount=row["amount"],
            amount_received=row["amount_received"],
            currency=row["currency"],
            status=row["status"],
            capture_method=row["capture_method"],
            provider=row["provider"],
            payment_method=row["payment_method"],
            description=row["description"],
            metadata=json.loads(row["metadata"]),
            livemode=row["livemode"],
            created=unix(row["created_at"]),
        )
