"""Ledger rules. No SQL here (see repository.py) and no HTTP types."""

from __future__ import annotations

from services.ledger import repository
from services.ledger.errors import AccountNotFoundError
from services.ledger.schemas import Account
from shared.db import Connection
from shared.identity import Identity
from shared.pagination import ListParams, page


async def list_accounts(
    conn: Connection, identity: Identity, *, params: ListParams
) -> tuple[list[Account], bool]:
    rows = await repository.list_accounts(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, params=params
    )
    shown, has_more = page(rows, params)
    return [Account.from_row(row) for row in shown], has_more


async def get_account(conn: Connection, identity: Identity, account_id: str) -> Account:
    row = await repository.get_account(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, account_id=account_id
    )
    if row is None:
        raise AccountNotFoundError(account_id)
    return Account.from_row(row)
