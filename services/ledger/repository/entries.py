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
    # The cursor's condition only with a cursor (why: services/ledger/repository/filters.py).
    op, order = keyset(params)
    after = "" if params.cursor is None else f"AND seq {op} (SELECT seq FROM entries WHERE id = $3)"
    found = await conn.fetch(
        _SELECT + f" WHERE account_id = $1 {after} ORDER BY seq {order} LIMIT $2",
        account_id,
        params.fetch,
        *([] if params.cursor is None else [params.cursor]),
    )
    return rows(EntryRow, found)


async def last_posted(conn: Connection, *, account_id: str, at: datetime) -> EntryRow | None:
    """The account's last posted entry made by `at`: its balance_after is the balance then.

    Found by time from `entries_account_posted_at_idx` (migration 0008): an account's
    entry times follow its seq, so the latest entry made by `at` is the last applied by
    then, and none made since is read."""
    found = await conn.fetchrow(
        _SELECT
        + """
        WHERE seq = (
            SELECT seq FROM entries
            WHERE account_id = $1 AND NOT pending AND created_at <= $2
            ORDER BY created_at DESC, seq DESC LIMIT 1
        )
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
