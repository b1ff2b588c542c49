"""Ledger accounts: created, listed, read with balances, renamed; never deleted."""

from __future__ import annotations

from datetime import datetime

from services.ledger.errors import AccountNotFoundError, CodeTakenError, ReservedAccountError
from services.ledger.repository import accounts as accounts_repo
from services.ledger.repository import entries as entries_repo
from services.ledger.repository.rows import AccountRow
from services.ledger.schemas.accounts import (
    Account,
    AccountCreateRequest,
    AccountFilters,
    AccountUpdateRequest,
    Balance,
    HistoricalBalance,
)
from services.ledger.schemas.transactions import Entry
from services.ledger.service.locking import may_touch_reserved, state_of
from services.ledger.service.reading import entry_of
from services.ledger.state import LedgerState
from shared.db import Connection, transaction
from shared.identity import Identity
from shared.ids import new_id
from shared.ledger_contract import is_reserved_code
from shared.pagination import ListParams, page
from shared.timeutil import unix


async def create_account(
    ledger: LedgerState, identity: Identity, request: AccountCreateRequest
) -> Account:
    if is_reserved_code(request.code) and not may_touch_reserved(identity):
        raise ReservedAccountError(request.code or "", param="code")
    account_id = new_id("acc")
    async with transaction(ledger.pool) as conn:
        created = await accounts_repo.insert(
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
        return account_of(await _account(conn, identity, account_id))


async def get_account(ledger: LedgerState, identity: Identity, ref: str) -> Account:
    async with transaction(ledger.pool) as conn:
        return account_of(await _account(conn, identity, ref))


async def list_accounts(
    ledger: LedgerState, identity: Identity, *, params: AccountFilters
) -> tuple[list[Account], bool]:
    async with transaction(ledger.pool) as conn:
        found = await accounts_repo.list_page(
            conn,
            tenant_id=identity.tenant_scope,
            livemode=identity.livemode,
            params=params,
            currency=params.currency.lower() if params.currency else None,
            type=params.type,
        )
    shown, has_more = page(found, params)
    return [account_of(account) for account in shown], has_more


async def update_account(
    ledger: LedgerState, identity: Identity, ref: str, request: AccountUpdateRequest
) -> Account:
    async with transaction(ledger.pool) as conn:
        account = await _account(conn, identity, ref)
        if is_reserved_code(account.code) and not may_touch_reserved(identity):
            raise ReservedAccountError(ref, param="id")
        await accounts_repo.update(
            conn,
            tenant_id=identity.tenant_scope,
            livemode=identity.livemode,
            account_id=account.id,
            name=request.name,
            metadata=request.metadata,
        )
        return account_of(await _account(conn, identity, account.id))


async def list_entries(
    ledger: LedgerState, identity: Identity, ref: str, *, params: ListParams
) -> tuple[list[Entry], bool]:
    async with transaction(ledger.pool) as conn:
        account = await _account(conn, identity, ref)
        found = await entries_repo.account_page(conn, account_id=account.id, params=params)
    shown, has_more = page(found, params)
    return [entry_of(entry) for entry in shown], has_more


async def balance_at(
    ledger: LedgerState, identity: Identity, ref: str, at: datetime
) -> HistoricalBalance:
    async with transaction(ledger.pool) as conn:
        account = await _account(conn, identity, ref)
        last = await entries_repo.last_posted(conn, account_id=account.id, at=at)
    return HistoricalBalance(
        account_id=account.id,
        at=int(at.timestamp()),
        posted=last.balance_after if last else 0,
        version=last.version_after if last else 0,
    )


def account_of(account: AccountRow) -> Account:
    """The API's account, its balance by the engine's rules (lapsed holds no longer count)."""
    state = state_of(account)
    return Account(
        id=account.id,
        name=account.name,
        code=account.code,
        type=account.type,
        currency=account.currency,
        no_overdraft=account.no_overdraft,
        metadata=account.metadata,
        balance=Balance(
            posted=state.posted,
            pending_debits=state.held_debits,
            pending_credits=state.held_credits,
            available=state.available,
        ),
        version=account.version,
        livemode=account.livemode,
        created=unix(account.created_at),
    )


async def _account(conn: Connection, identity: Identity, ref: str) -> AccountRow:
    found = await accounts_repo.get(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, ref=ref
    )
    if found is None:
        raise AccountNotFoundError(ref)
    return found
