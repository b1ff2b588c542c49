"""Whether events are flowing, for the platform's operator: what waits to be delivered, how
long events take to reach the log, what the service's own outbox still holds."""

from __future__ import annotations

from services.events.repository import backlog as backlog_repo
from services.events.schemas import BacklogDeliveries, BacklogLag, BacklogOutbox, EventsBacklog
from services.events.service.access import require_platform_admin
from shared.db import Pool
from shared.identity import Identity

# The lag is measured over the events stored in the last this many seconds.
LAG_WINDOW_SECONDS = 600


async def backlog(pool: Pool, identity: Identity) -> EventsBacklog:
    require_platform_admin(identity)
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        found = await backlog_repo.backlog(conn, window_seconds=LAG_WINDOW_SECONDS)
    return EventsBacklog(
        deliveries=BacklogDeliveries(
            pending=found.pending,
            due=found.due,
            oldest_due_seconds=found.oldest_due_seconds,
            failing_endpoints=found.failing_endpoints,
            disabled_endpoints=found.disabled_endpoints,
        ),
        lag=BacklogLag(
            window_seconds=LAG_WINDOW_SECONDS,
            events=found.events,
            p50_ms=found.p50_ms,
            max_ms=found.max_ms,
        ),
        outbox=BacklogOutbox(
            pending=found.outbox_pending, oldest_seconds=found.outbox_oldest_seconds
        ),
    )
