"""Events rules. No SQL here (see repository.py) and no HTTP types."""

from __future__ import annotations

from services.events import repository
from services.events.errors import EventNotFoundError
from services.events.schemas import Event
from shared.db import Connection
from shared.identity import Identity
from shared.pagination import ListParams, page


async def list_events(
    conn: Connection, identity: Identity, *, params: ListParams
) -> tuple[list[Event], bool]:
    rows = await repository.list_events(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, params=params
    )
    shown, has_more = page(rows, params)
    return [Event.from_row(row) for row in shown], has_more


async def get_event(conn: Connection, identity: Identity, event_id: str) -> Event:
    row = await repository.get_event(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, event_id=event_id
    )
    if row is None:
        raise EventNotFoundError(event_id)
    return Event.from_row(row)
