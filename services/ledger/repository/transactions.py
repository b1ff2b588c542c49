"""Transactions, their holds and their one resolution; entries are written here with them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.ledger.repository.filters import Where
from services.ledger.repository.rows import (
    HoldRow,
    LapsedHold,
    NewEntry,
    NewHold,
    NewTransaction,
    TransactionRow,
)
from shared.db import Connection
from shared.pagination import ListParams, keyset
from shared.rows import row, rows


async def insert(
    conn: Connection,
    *,
    tenant_id: str,
    livemode: bool,
    transactions: Sequence[NewTransaction],
    entries: Sequence[NewEntry],
    holds: Sequence[NewHold],
    account_changes: Sequence[tuple[str, int, int, int, int, int]] = (),
) -> dict[str, datetime]:
    """Write transactions with their entries and holds in one statement; return the ids
    written with their creation times. A reference taken meanwhile by another request
    writes nothing for that one (the caller then rolls back and starts over).

    `account_changes` (as `accounts.apply_changes` takes them) are applied by the same
    statement: one round trip fewer per posting."""
    if not transactions:
        return {}
    changes: list[list[object]] = [list(column) for column in zip(*account_changes, strict=True)]
    changes = changes or [[] for _ in range(6)]
    rows = await conn.fetch(
        """
        WITH a AS (
            UPDATE accounts a SET debits_posted = a.debits_posted + c.dp,
                                  credits_posted = a.credits_posted + c.cp,
                                  debits_pending = a.debits_pending + c.dh,
                                  credits_pending = a.credits_pending + c.ch,
                                  version = c.version
            FROM unnest($24::text[], $25::bigint[], $26::bigint[], $27::bigint[],
                        $28::bigint[], $29::bigint[]) AS c(id, dp, cp, dh, ch, version)
            WHERE a.id = c.id
        ), t AS (
            INSERT INTO transactions (id, tenant_id, livemode, reference_id, description,
                                      metadata, kind, expires_at, parent_id, body_hash)
            SELECT id, $1, $2, reference_id, description, metadata::jsonb, kind, expires_at,
                   parent_id, body_hash
            FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                        $8::timestamptz[], $9::text[], $10::text[])
                 AS n(id, reference_id, description, metadata, kind, expires_at, parent_id,
                      body_hash)
            ON CONFLICT (tenant_id, livemode, reference_id) DO NOTHING
            RETURNING id, created_at, expires_at
        ), e AS (
            INSERT INTO entries (id, transaction_id, account_id, direction, amount, currency,
                                 pending, balance_after, version_after, created_at)
            SELECT u.id, u.transaction_id, u.account_id, u.direction, u.amount, u.currency,
                   u.pending, u.balance_after, u.version_after, t.created_at
            FROM unnest($11::text[], $12::text[], $13::text[], $14::text[], $15::bigint[],
                        $16::text[], $17::boolean[], $18::bigint[], $19::bigint[])
                 WITH ORDINALITY
                 AS u(id, transaction_id, account_id, direction, amount, currency, pending,
                      balance_after, version_after, position)
            JOIN t ON t.id = u.transaction_id
            -- seq must follow the order the engine applied them in (balance_after does).
            ORDER BY u.position
        ), h AS (
            INSERT INTO holds (transaction_id, account_id, direction, amount, expires_at)
            SELECT v.transaction_id, v.account_id, v.direction, sum(v.amount), t.expires_at
            FROM unnest($20::text[], $21::text[], $22::text[], $23::bigint[])
                 AS v(transaction_id, account_id, direction, amount)
            JOIN t ON t.id = v.transaction_id
            GROUP BY v.transaction_id, v.account_id, v.direction, t.expires_at
        )
        SELECT id, created_at FROM t
        """,
        tenant_id,
        livemode,
        [t.id for t in transactions],
        [t.reference_id for t in transactions],
        [t.description for t in transactions],
        [json.dumps(t.metadata) for t in transactions],
        [t.kind for t in transactions],
        [t.expires_at for t in transactions],
        [t.parent_id for t in transactions],
        [t.body_hash for t in transactions],
        [e.id for e in entries],
        [e.transaction_id for e in entries],
        [e.account_id for e in entries],
        [e.direction for e in entries],
        [e.amount for e in entries],
        [e.currency for e in entries],
        [e.pending for e in entries],
        [e.balance_after for e in entries],
        [e.version_after for e in entries],
        [h.transaction_id for h in holds],
        [h.account_id for h in holds],
        [h.direction for h in holds],
        [h.amount for h in holds],
        *changes,
    )
    return {row["id"]: row["created_at"] for row in rows}


_TRANSACTION = """
    SELECT t.id, t.tenant_id, t.livemode, t.reference_id, t.description,
           t.metadata::text AS metadata, t.kind, t.expires_at, t.parent_id, t.created_at,
           r.outcome, r.posting_id,
           (SELECT c.id FROM transactions c WHERE c.parent_id = t.id AND c.kind = 'reversal')
               AS reversed_by
    FROM transactions t LEFT JOIN resolutions r ON r.pending_id = t.id
"""


def _transaction(record: asyncpg.Record) -> TransactionRow:
    return row(TransactionRow, {**dict(record), "metadata": json.loads(record["metadata"])})


async def get(
    conn: Connection, *, tenant_id: str, livemode: bool, transaction_id: str
) -> TransactionRow | None:
    found = await conn.fetchrow(
        _TRANSACTION + " WHERE t.id = $1 AND t.tenant_id = $2 AND t.livemode = $3",
        transaction_id,
        tenant_id,
        livemode,
    )
    return None if found is None else _transaction(found)


async def list_page(
    conn: Connection,
    *,
    tenant_id: str,
    livemode: bool,
    params: ListParams,
    account_id: str | None,
    reference_id: str | None,
    created_gte: datetime | None,
    created_lte: datetime | None,
) -> list[TransactionRow]:
    op, order = keyset(params)
    where = Where(tenant_id, livemode)
    where.add_if(f"t.id {op} {{}}", params.cursor)
    where.add_if("t.reference_id = {}", reference_id)
    where.add_if("t.created_at >= {}", created_gte)
    # `created` is shown in whole seconds: lte includes all of its second.
    where.add_if("date_trunc('second', t.created_at) <= {}", created_lte)
    where.add_if(
        "EXISTS (SELECT 1 FROM entries e JOIN accounts a ON a.id = e.account_id "
        "WHERE e.transaction_id = t.id AND (a.id = {0} OR a.code = {0}))",
        account_id,
    )
    limit = where.param(params.fetch)
    found = await conn.fetch(
        _TRANSACTION
        + f" WHERE {where.sql('t.tenant_id = $1', 't.livemode = $2')}"
        + f" ORDER BY t.id {order} LIMIT {limit}",
        *where.values,
    )
    return [_transaction(record) for record in found]


async def holds_of(conn: Connection, transaction_id: str) -> list[HoldRow]:
    found = await conn.fetch(
        "SELECT account_id, direction, amount, expires_at FROM holds WHERE transaction_id = $1 "
        "ORDER BY account_id, direction",
        transaction_id,
    )
    return rows(HoldRow, found)


async def resolve(
    conn: Connection, *, pending_id: str, outcome: str, posting_id: str | None
) -> bool:
    """Record the one resolution of a pending transaction and drop its holds.
    False when it was already resolved."""
    row = await conn.fetchrow(
        """
        WITH r AS (
            INSERT INTO resolutions (pending_id, outcome, posting_id) VALUES ($1, $2, $3)
            ON CONFLICT (pending_id) DO NOTHING RETURNING pending_id
        ), d AS (
            DELETE FROM holds WHERE transaction_id IN (SELECT pending_id FROM r)
        )
        SELECT pending_id FROM r
        """,
        pending_id,
        outcome,
        posting_id,
    )
    return row is not None


async def lapsed_holds(conn: Connection, *, limit: int) -> list[LapsedHold]:
    """Pending transactions whose holds have lapsed, with their scope."""
    found = await conn.fetch(
        """
        SELECT DISTINCT h.transaction_id, t.tenant_id, t.livemode
        FROM holds h JOIN transactions t ON t.id = h.transaction_id
        WHERE h.expires_at <= now()
        LIMIT $1
        """,
        limit,
    )
    return rows(LapsedHold, found)
