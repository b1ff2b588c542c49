"""All SQL of the ledger."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams
from shared.scoped import ScopedTable

_ACCOUNT_COLUMNS = """
    id, tenant_id, livemode, name, type, currency, no_overdraft, metadata::text AS metadata,
    debits_posted, credits_posted, debits_pending, credits_pending, version, created_at
"""

_TABLE = ScopedTable("accounts", _ACCOUNT_COLUMNS)


async def list_accounts(
    conn: Connection, *, tenant_id: str, livemode: bool, params: ListParams
) -> Sequence[asyncpg.Record]:
    return await _TABLE.page(conn, tenant_id=tenant_id, livemode=livemode, params=params)


async def get_account(
    conn: Connection, *, tenant_id: str, livemode: bool, account_id: str
) -> asyncpg.Record | None:
    return await _TABLE.get(conn, tenant_id=tenant_id, livemode=livemode, row_id=account_id)
