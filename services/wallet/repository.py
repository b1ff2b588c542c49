"""All SQL of the wallet service."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams
from shared.scoped import ScopedTable

_WALLET_COLUMNS = """
    id, tenant_id, livemode, owner, currency, ledger_account_id, status,
    metadata::text AS metadata, created_at
"""

_TABLE = ScopedTable("wallets", _WALLET_COLUMNS)


async def list_wallets(
    conn: Connection, *, tenant_id: str, livemode: bool, params: ListParams
) -> Sequence[asyncpg.Record]:
    return await _TABLE.page(conn, tenant_id=tenant_id, livemode=livemode, params=params)


async def get_wallet(
    conn: Connection, *, tenant_id: str, livemode: bool, wallet_id: str
) -> asyncpg.Record | None:
    return await _TABLE.get(conn, tenant_id=tenant_id, livemode=livemode, row_id=wallet_id)
