"""Ledger accounts: created, listed, read with balances, renamed; never deleted."""

from __future__ import annotations

from datetime import datetime

from services.ledger.errors import AccountNotFoundError, CodeTakenError
from services.ledger.repository import accounts as account_rows
from services.ledger.schemas.accounts import (
    Account,
    AccountCreateRequest,
    AccountUpdateRequest,
    HistoricalBalance,
)
from services.ledger.schemas.transactions import AccountFilters, Entry
from shared.db import Connection
from shared.identity import Identity
from shared.ids import new_id
from shared.pagination import ListParams, page


async def create_account(
    conn: Connection, identity: Identity, request: AccountCreateRequest
) -> Account:
    account_id = new_id("acc")
    created = await account_rows.insert(
        conn,
        account_id=account_id,
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        name=request.name,
        type=request.type,
        currency=request.currency,
        no_overdraft=request.no_overdraft,
        code=request.code,
        metadata=request.metadata,
    )
    if not created:
        raise CodeTakenError(request.code or "")
    return await get_account(conn, identity, account_id)


async def get_account(conn: Connection, identity: Identity, ref: str) -> Account:
    row = await account_rows.get(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, ref=ref
    )
    if row is None:
        raise AccountNotFoundError(ref)
    return Account.from_row(row)


async def list_accounts(
    conn: Connection, identity: Identity, *, params: AccountFilters
) -> tuple[list[Account], bool]:
    rows = await account_rows.list_page(
        conn,
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        params=params,
        currency=params.currency.lower() if params.currency else None,
        type=params.type,
    )
    shown, has_more = page(rows, params)
    return [Account.from_row(row) for row in shown], has_more


async def update_account(
    conn: Connection, identity: Identity, ref: str, request: AccountUpdateRequest
) -> Account:
    account = await get_account(conn, identity, ref)
    await account_rows.update(
        conn,
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        account_id=account.id,
        name=request.name,
        metadata=request.metadata,
    )
    return await get_account(conn, identity, account.id)


async def list_entries(
    conn: Connection, identity: Identity, ref: str, *, params: ListParams
) -> tuple[list[Entry], bool]:
    account = await get_account(conn, identity, ref)
    rows = await account_rows.entries_page(conn, account_id=account.id, params=params)
    shown, has_more = page(rows, params)
    return [Entry.from_row(row) for row in shown], has_more


async def balance_at(
    conn: Connection, identity: Identity, ref: str, at: datetime
) -> HistoricalBalance:
    account = await get_account(conn, identity, ref)
    row = await account_rows.balance_at(conn, account_id=account.id, at=at)
    return HistoricalBalance(
        account_id=account.id,
        at=int(at.timestamp()),
        posted=row["balance_after"] if row else 0,
        version=row["version_after"] if row else 0,
    )
