"""The ledger outbox: postings owed to the ledger, until it acknowledges them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import asyncpg

from shared.db import Connection
from shared.rows import row
from shared.tracing import current_traceparent


@dataclass(frozen=True, slots=True)
class PostingRow:
    """A posting owed to the ledger; `body` is the transaction to post, decoded."""

    id: str
    tenant_id: str
    livemode: bool
    reference_id: str
    body: dict[str, Any]
    # The currency the posting moves: payments' own accounts are opened in it.
    currency: str
    attempts: int
    created_at: datetime
    # The trace of the request that owed it (shared/tracing.py), continued by its relay.
    traceparent: str | None


@dataclass(frozen=True, slots=True)
class RefusedPostingRow(PostingRow):
    """A posting the ledger refused for good, with its answer."""

    failed_at: datetime
    failure: dict[str, Any] | None


def _posting(record: asyncpg.Record) -> PostingRow:
    return row(PostingRow, {**record, "body": json.loads(record["body"])})


def _posting_or_none(record: asyncpg.Record | None) -> PostingRow | None:
    return None if record is None else _posting(record)


async def insert_outbox(
    conn: Connection,
    *,
    outbox_id: str,
    tenant_id: str,
    livemode: bool,
    reference_id: str,
    body: dict[str, Any],
    currency: str,
) -> None:
    """`body` is the ledger transaction as posted; `currency` the one it moves. The row
    keeps the writing request's trace context, as `shared.outbox` does an event's."""
    await conn.execute(
        "INSERT INTO ledger_outbox "
        "(id, tenant_id, livemode, reference_id, body, currency, traceparent) "
        "VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7) ON CONFLICT (reference_id) DO NOTHING",
        outbox_id,
        tenant_id,
        livemode,
        reference_id,
        json.dumps(body),
        currency,
        current_traceparent(),
    )


_ROW = (
    "id, tenant_id, livemode, reference_id, body::text AS body, currency, attempts, created_at, "
    "traceparent"
)


async def claim_due(conn: Connection, *, hold: timedelta) -> PostingRow | None:
    """The next due row, its next attempt moved `hold` ahead so other relays leave it be
    while this one calls the ledger (no lock is held across the call)."""
    record = await conn.fetchrow(
        f"""
        UPDATE ledger_outbox SET next_attempt = now() + $1::interval
        WHERE id = (
            SELECT id FROM ledger_outbox
            WHERE posted_at IS NULL AND failed_at IS NULL AND next_attempt <= now()
            ORDER BY next_attempt LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING {_ROW}
        """,
        hold,
    )
    return _posting_or_none(record)


async def claim_reference(
    conn: Connection, reference_id: str, *, hold: timedelta
) -> PostingRow | None:
    """A reference's row, claimed as `claim_due` does, if it is due."""
    record = await conn.fetchrow(
        f"""
        UPDATE ledger_outbox SET next_attempt = now() + $2::interval
        WHERE id = (
            SELECT id FROM ledger_outbox
            WHERE reference_id = $1 AND posted_at IS NULL AND failed_at IS NULL
              AND next_attempt <= now()
            FOR UPDATE SKIP LOCKED)
        RETURNING {_ROW}
        """,
        reference_id,
        hold,
    )
    return _posting_or_none(record)


OutboxState = Literal["posted", "failed", "pending"]


async def outbox_state(conn: Connection, reference_id: str) -> OutboxState | None:
    record = await conn.fetchrow(
        "SELECT posted_at, failed_at FROM ledger_outbox WHERE reference_id = $1", reference_id
    )
    if record is None:
        return None
    if record["posted_at"] is not None:
        return "posted"
    return "failed" if record["failed_at"] is not None else "pending"


async def mark_posted(conn: Connection, outbox_id: str) -> None:
    await conn.execute("UPDATE ledger_outbox SET posted_at = now() WHERE id = $1", outbox_id)


async def mark_retry(conn: Connection, outbox_id: str, *, error: str, delay: float) -> None:
    await conn.execute(
        "UPDATE ledger_outbox SET attempts = attempts + 1, last_error = $2, "
        "next_attempt = now() + make_interval(secs => $3) WHERE id = $1",
        outbox_id,
        error[:1000],
        delay,
    )


async def mark_refused(
    conn: Connection, outbox_id: str, *, error: str, failure: dict[str, Any]
) -> RefusedPostingRow:
    """Failed for good: the ledger's answer is kept, and the row is never due again."""
    record = await conn.fetchrow(
        f"""
        UPDATE ledger_outbox SET attempts = attempts + 1, last_error = $2,
            failed_at = now(), failure = $3::jsonb
        WHERE id = $1 RETURNING {_ROW}, failed_at, failure::text AS failure
        """,
        outbox_id,
        error[:1000],
        json.dumps(failure),
    )
    assert record is not None
    failure_text = record["failure"]
    return row(
        RefusedPostingRow,
        {
            **record,
            "body": json.loads(record["body"]),
            "failure": json.loads(failure_text) if failure_text else None,
        },
    )


async def count_refused(conn: Connection) -> int:
    return int(
        await conn.fetchval("SELECT count(*) FROM ledger_outbox WHERE failed_at IS NOT NULL")
    )


@dataclass(frozen=True, slots=True)
class OutboxSummary:
    pending: int
    failed: int
    oldest_pending_seconds: float | None


async def summary(conn: Connection) -> OutboxSummary:
    """Every tenant's rows still owed (pending) or refused for good (failed)."""
    record = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE posted_at IS NULL AND failed_at IS NULL) AS pending, "
        "count(*) FILTER (WHERE failed_at IS NOT NULL) AS failed, "
        "extract(epoch FROM now() - min(created_at) "
        "FILTER (WHERE posted_at IS NULL AND failed_at IS NULL))::float8 AS oldest "
        "FROM ledger_outbox WHERE posted_at IS NULL"
    )
    assert record is not None
    oldest = record["oldest"]
    return OutboxSummary(
        pending=int(record["pending"]),
        failed=int(record["failed"]),
        oldest_pending_seconds=None if oldest is None else max(0.0, float(oldest)),
    )
