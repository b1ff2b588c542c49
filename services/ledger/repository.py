"""All SQL of the ledger."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams, keyset

_ACCOUNT_COLUMNS = """
    id, tenant_id, livemode, name, type, currency, no_overdraft, metadata::text AS metadata,
    debits_posted, credits_posted, debits_pending, credits_pending, version, created_at
"""


async def list_accounts(
    conn: Connection, *, tenant_id: str, livemode: bool, params: ListParams
) -> Sequence[asyncpg.Record]:
    op, order = keyset(params)
    return await conn.fetch(
        f"""
        SELECT {_ACCOUNT_COLUMNS} FROM accounts
        WHERE tenant_id = $1 AND livemode = $2 AND ($3::text IS NULL OR id {op} $3)
        ORDER BY id {order} LIMIT $4
        """,  # noqa: S608 - only the fixed column list and keyset operator are interpolated
        tenant_id,
        livemode,
        params.cursor,
        params.fetch,
    )


async def get_account(
    conn: Connection, *, tenant_id: str, livemode: bool, account_id: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS} FROM accounts "  # noqa: S608 - fixed column list
        "WHERE id = $1 AND tenant_id = $2 AND livemode = $3",
        account_id,
        tenant_id,
        livemode,
    )
