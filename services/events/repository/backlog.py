"""What the event pipeline holds, across every tenant and mode: one statement, one snapshot.

Each figure reads an index: pending deliveries `deliveries_due_idx` (partial, pending only),
the lag window `events_received_idx`, the unpublished outbox `outbox_unpublished_idx`
(partial). Endpoints are a small table, read whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.db import Connection

_BACKLOG = """
SELECT d.pending, d.due, d.oldest_due_seconds,
       w.failing_endpoints, w.disabled_endpoints,
       l.events, l.p50_ms, l.max_ms,
       o.outbox_pending, o.outbox_oldest_seconds
FROM (
    SELECT count(*) AS pending,
           count(*) FILTER (WHERE next_attempt_at <= now()) AS due,
           extract(epoch FROM now() - min(next_attempt_at)
               FILTER (WHERE next_attempt_at <= now()))::float8 AS oldest_due_seconds
    FROM deliveries WHERE status = 'pending'
) d, (
    SELECT count(*) FILTER (WHERE failing_since IS NOT NULL AND status = 'enabled')
               AS failing_endpoints,
           count(*) FILTER (WHERE status = 'disabled') AS disabled_endpoints
    FROM webhook_endpoints
) w, (
    SELECT count(*) AS events,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY lag_ms) AS p50_ms,
           max(lag_ms) AS max_ms
    FROM (
        SELECT extract(epoch FROM received_at - created_at)::float8 * 1000 AS lag_ms
        FROM events WHERE received_at > now() - make_interval(secs => $1)
    ) recent
) l, (
    SELECT count(*) AS outbox_pending,
           extract(epoch FROM now() - min(created_at))::float8 AS outbox_oldest_seconds
    FROM outbox WHERE published_at IS NULL
) o
"""


@dataclass(frozen=True, slots=True)
class Backlog:
    pending: int
    due: int
    oldest_due_seconds: float | None
    failing_endpoints: int
    disabled_endpoints: int
    events: int
    p50_ms: float | None
    max_ms: float | None
    outbox_pending: int
    outbox_oldest_seconds: float | None


def _age(value: float | None) -> float | None:
    # A row stamped a moment after this statement's now() is due (or waiting) since now.
    return None if value is None else max(0.0, float(value))


def _ms(value: float | None) -> float | None:
    return None if value is None else float(value)


async def backlog(conn: Connection, *, window_seconds: float) -> Backlog:
    record = await conn.fetchrow(_BACKLOG, float(window_seconds))
    assert record is not None
    return Backlog(
        pending=int(record["pending"]),
        due=int(record["due"]),
        oldest_due_seconds=_age(record["oldest_due_seconds"]),
        failing_endpoints=int(record["failing_endpoints"]),
        disabled_endpoints=int(record["disabled_endpoints"]),
        events=int(record["events"]),
        p50_ms=_ms(record["p50_ms"]),
        max_ms=_ms(record["max_ms"]),
        outbox_pending=int(record["outbox_pending"]),
        outbox_oldest_seconds=_age(record["outbox_oldest_seconds"]),
    )
