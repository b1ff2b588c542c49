"""Entries read back: per account (a statement) and per transaction. They are written with
their transaction (`transactions.insert`) and never change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.ledger.repository.rows import EntryRow
from shared.db import Connection
from shared.pagination import ListParams, keyset
from shared.rows import row_or_none, rows

_SELECT = """
    SELECT id, transaction_id, account_id, direction, amount, currency, pending,
           balance_after, version_after, created_at
    FROM entries
"""


async def account_page(conn: Connection, *, account_id: str, params: ListParams) -> list[EntryRow]:
    op, order = keyset(params)
    found = await conn.fetch(
        _SELECT
        + f"""
        WHERE account_id = $1
          AND ($2::text IS NULL OR seq {op} (SELECT seq FROM entries WHERE id = $2))
        ORDER BY seq {order} LIMIT $3
        """,
        account_id,
        params.cursor,
        params.fetch,
    )
    return rows(EntryRow, found)


async def last_posted(conn: Connection, *, account_id: str, at: datetime) -> EntryRow | None:
    """The account's last posted entry made by `at`: its balance_after is the balance then."""
    found = await conn.fetchrow(
        _SELECT
        + """
        WHERE account_id = $1 AND NOT pending AND created_at <= $2
        ORDER BY seq DESC LIMIT 1
        """,
        account_id,
        at,
    )
    return row_or_none(EntryRow, found)


async def of_transactions(conn: Connection, transaction_ids: Sequence[str]) -> list[EntryRow]:
    """In the order they were written (`seq`)."""
    found = await conn.fetch(
        _SELECT + " WHERE transaction_id = ANY($1) ORDER BY seq", list(transaction_ids)
    )
    return rows(EntryRow, found)
