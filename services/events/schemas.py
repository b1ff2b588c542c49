"""Request and response models of the events API."""

from __future__ import annotations

import json
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel

from shared.timeutil import unix


class EventRequest(BaseModel):
    """The API request that caused the event, if any."""

    id: str | None
    idempotency_key: str | None


class Event(BaseModel):
    id: str
    object: Literal["event"] = "event"
    type: str
    created: int
    livemode: bool
    tenant_id: str
    data: dict[str, Any]
    request: EventRequest

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Event:
        return cls(
            id=row["id"],
            type=row["type"],
            created=unix(row["created_at"]),
            livemode=row["livemode"],
            tenant_id=row["tenant_id"],
            data=json.loads(row["data"]),
            request=EventRequest(id=row["request_id"], idempotency_key=row["idempotency_key"]),
        )
