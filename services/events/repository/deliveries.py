"""Deliveries (one event owed to one endpoint) and their attempts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.db import Connection, Pool
from shared.pagination import ListParams
from shared.retention import delete_in_batches
from shared.rows import rows
from shared.scoped import ScopedTable
from shared.webhooks import Scheme

_ATTEMPT_COLUMNS = """
    id, delivery_id, event_id, endpoint_id, tenant_id, livemode, attempt, url, succeeded,
    status_code, error, duration_ms, started_at, finished_at, next_attempt_at
"""
_ATTEMPTS = ScopedTable("delivery_attempts", _ATTEMPT_COLUMNS)


@dataclass(frozen=True, slots=True)
class NewDelivery:
    id: str
    event_id: str
    endpoint_id: str
    tenant_id: str
    livemode: bool


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery claimed for one attempt, with what sending it needs: the event's stored
    JSON, the endpoint's URL, its signature scheme and its (encrypted) secrets."""

    id: str
    event_id: str
    endpoint_id: str
    tenant_id: str
    livemode: bool
    # The number of the attempt now claimed (1-based).
    attempts: int
    payload: str
    url: str
    signature: Scheme
    secret: bytes
    # The secret a roll replaced, only while it still signs.
    previous_secret: bytes | None
    # The event's trace (shared/tracing.py): the attempt is a span of it and sends it on.
    traceparent: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One delivery attempt: the append-only history a tenant reads to debug a receiver."""

    id: str
    delivery_id: str
    event_id: str
    endpoint_id: str
    tenant_id: str
    livemode: bool
    attempt: int
    url: str
    succeeded: bool
    status_code: int | None
    error: str | None
    duration_ms: int
    started_at: datetime
    finished_at: datetime
    next_attempt_at: datetime | None


async def create(conn: Connection, deliveries: Sequence[NewDelivery]) -> None:
    """Owe these events to these endpoints, due at once."""
    if not deliveries:
        return
    await conn.execute(
        """
        INSERT INTO deliveries (id, event_id, endpoint_id, tenant_id, livemode, next_attempt_at)
        SELECT d.*, now()
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[]) AS d
        """,
        [d.id for d in deliveries],
        [d.event_id for d in deliveries],
        [d.endpoint_id for d in deliveries],
        [d.tenant_id for d in deliveries],
        [d.livemode for d in deliveries],
    )


async def claim_due(
    conn: Connection,
    *,
    limit: int,
    lease_seconds: float,
    per_endpoint: int,
    running: dict[str, int] | None = None,
) -> list[Claimed]:
    """Take up to `limit` due deliveries for one attempt each, no endpoint beyond
    `per_endpoint` attempts at once counting the `running` ones (endpoint id -> count).

    SKIP LOCKED lets replicas claim side by side without ever taking the same row; the
    claim moves `next_attempt_at` past the attempt's timeout (a lease), so after this
    transaction commits no one else takes it unless this worker dies mid-attempt. The cap
    keeps one slow endpoint from holding every slot while other tenants wait.
    """
    running = running or {}
    full = [endpoint for endpoint, count in running.items() if count >= per_endpoint]
    return rows(
        Claimed,
        await conn.fetch(
            """
            WITH candidates AS (
                SELECT d.id, d.endpoint_id, d.next_attempt_at FROM deliveries d
                JOIN webhook_endpoints w ON w.id = d.endpoint_id AND w.status = 'enabled'
                WHERE d.status = 'pending' AND d.next_attempt_at <= now()
                  AND d.endpoint_id <> ALL($3::text[])
                ORDER BY d.next_attempt_at
                LIMIT $1 * 4
                FOR UPDATE OF d SKIP LOCKED
            ), due AS (
                SELECT c.id FROM (
                    SELECT id, endpoint_id, next_attempt_at, row_number() OVER (
                        PARTITION BY endpoint_id ORDER BY next_attempt_at) AS n
                    FROM candidates
                ) c
                LEFT JOIN unnest($4::text[], $5::integer[]) AS busy(endpoint_id, count)
                    ON busy.endpoint_id = c.endpoint_id
                WHERE c.n <= $6 - coalesce(busy.count, 0)
                ORDER BY c.next_attempt_at
                LIMIT $1
            )
            UPDATE deliveries d SET
                attempts = d.attempts + 1,
                next_attempt_at = now() + make_interval(secs => $2),
                updated_at = now()
            FROM due, events e, webhook_endpoints w
            WHERE d.id = due.id AND e.id = d.event_id AND w.id = d.endpoint_id
            RETURNING d.id, d.event_id, d.endpoint_id, d.tenant_id, d.livemode, d.attempts,
                e.payload, e.traceparent, w.url, w.signature, w.secret,
                CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret END
                    AS previous_secret
            """,
            limit,
            lease_seconds,
            full,
            list(running),
            list(running.values()),
            per_endpoint,
        ),
    )


async def finish(
    conn: Connection,
    delivery_id: str,
    *,
    attempt: int,
    status: str,
    next_attempt_at: datetime | None,
) -> bool:
    """Record the outcome of attempt number `attempt`; False when a later attempt has
    already taken the delivery over (this one outlived its lease)."""
    result: str = await conn.execute(
        """
        UPDATE deliveries SET status = $3, next_attempt_at = $4, updated_at = now()
        WHERE id = $1 AND attempts = $2 AND status = 'pending'
        """,
        delivery_id,
        attempt,
        status,
        next_attempt_at,
    )
    return result != "UPDATE 0"


async def finish_succeeded(conn: Connection, finished: Sequence[tuple[str, int]]) -> None:
    """`finish` as succeeded for many (delivery id, attempt number) pairs in one statement;
    a pair whose attempt a later one took over changes nothing, as in `finish`."""
    await conn.execute(
        """
        UPDATE deliveries d SET status = 'succeeded', next_attempt_at = NULL, updated_at = now()
        FROM unnest($1::text[], $2::integer[]) AS f(id, attempt)
        WHERE d.id = f.id AND d.attempts = f.attempt AND d.status = 'pending'
        """,
        [delivery_id for delivery_id, _ in finished],
        [attempt for _, attempt in finished],
    )


async def insert_attempts(conn: Connection, attempts: Sequence[Attempt]) -> None:
    """`insert_attempt` for many, in one statement."""
    await conn.execute(
        """
        INSERT INTO delivery_attempts (id, delivery_id, event_id, endpoint_id, tenant_id,
            livemode, attempt, url, succeeded, status_code, error, duration_ms, started_at,
            finished_at, next_attempt_at)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
            $6::boolean[], $7::integer[], $8::text[], $9::boolean[], $10::integer[],
            $11::text[], $12::integer[], $13::timestamptz[], $14::timestamptz[],
            $15::timestamptz[])
        """,
        [a.id for a in attempts],
        [a.delivery_id for a in attempts],
        [a.event_id for a in attempts],
        [a.endpoint_id for a in attempts],
        [a.tenant_id for a in attempts],
        [a.livemode for a in attempts],
        [a.attempt for a in attempts],
        [a.url for a in attempts],
        [a.succeeded for a in attempts],
        [a.status_code for a in attempts],
        [a.error for a in attempts],
        [a.duration_ms for a in attempts],
        [a.started_at for a in attempts],
        [a.finished_at for a in attempts],
        [a.next_attempt_at for a in attempts],
    )


async def insert_attempt(conn: Connection, attempt: Attempt) -> None:
    await conn.execute(
        """
        INSERT INTO delivery_attempts (id, delivery_id, event_id, endpoint_id, tenant_id,
            livemode, attempt, url, succeeded, status_code, error, duration_ms, started_at,
            finished_at, next_attempt_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
        """,
        attempt.id,
        attempt.delivery_id,
        attempt.event_id,
        attempt.endpoint_id,
        attempt.tenant_id,
        attempt.livemode,
        attempt.attempt,
        attempt.url,
        attempt.succeeded,
        attempt.status_code,
        attempt.error,
        attempt.duration_ms,
        attempt.started_at,
        attempt.finished_at,
        attempt.next_attempt_at,
    )


async def cancel_pending(conn: Connection, endpoint_id: str) -> int:
    """A disabled endpoint is owed nothing more."""
    result: str = await conn.execute(
        "UPDATE deliveries SET status = 'canceled', next_attempt_at = NULL, updated_at = now() "
        "WHERE endpoint_id = $1 AND status = 'pending'",
        endpoint_id,
    )
    return int(result.split()[-1])


async def list_attempts(
    conn: Connection,
    *,
    tenant_id: str,
    livemode: bool,
    params: ListParams,
    event_id: str | None = None,
    endpoint_id: str | None = None,
) -> list[Attempt]:
    """The attempts of one event, or of one endpoint, newest first."""
    filters = [
        (column, value)
        for column, value in (("event_id", event_id), ("endpoint_id", endpoint_id))
        if value is not None
    ]
    found = await _ATTEMPTS.page(
        conn, tenant_id=tenant_id, livemode=livemode, params=params, filters=filters
    )
    return rows(Attempt, found)


async def purge_attempts(pool: Pool, *, older_than_seconds: float) -> int:
    """Delete attempts finished before the cutoff, in batches; the attempts of a delivery
    still to be retried stay (its history is still being written). No FOR UPDATE: attempts
    are append-only for the app's role, which has no UPDATE privilege for a row lock."""
    return await delete_in_batches(
        pool,
        """
        DELETE FROM delivery_attempts WHERE id = ANY(ARRAY(
            SELECT a.id FROM delivery_attempts a
            WHERE a.finished_at < now() - make_interval(secs => $1)
              AND NOT EXISTS (SELECT 1 FROM deliveries d
                              WHERE d.id = a.delivery_id AND d.status = 'pending')
            ORDER BY a.finished_at LIMIT $2))
        """,
        older_than_seconds,
    )
