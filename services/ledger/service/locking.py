"""Locking the accounts a change touches, and reading them as engine states."""

from __future__ import annotations

from collections.abc import Iterable

from services.ledger.errors import ReservedAccountError
from services.ledger.repository import accounts as accounts_repo
from services.ledger.repository.rows import AccountRow
from services.ledger.service.engine import AccountState
from shared.db import Connection
from shared.identity import Identity
from shared.ledger_contract import is_reserved_code


def state_of(account: AccountRow) -> AccountState:
    return AccountState(
        id=account.id,
        type=account.type,
        currency=account.currency,
        no_overdraft=account.no_overdraft,
        debits_posted=account.debits_posted,
        credits_posted=account.credits_posted,
        debits_pending=account.debits_pending,
        credits_pending=account.credits_pending,
        expired_debits=account.expired_debits,
        expired_credits=account.expired_credits,
        version=account.version,
        reserved=is_reserved_code(account.code),
    )


def may_touch_reserved(identity: Identity) -> bool:
    """Payments and the wallet (internal service identities) keep the reserved accounts;
    a tenant's key or session only reads them."""
    return identity.principal_type == "service"


def refuse_reserved(identity: Identity, states: Iterable[AccountState], *, param: str) -> None:
    """A change by a tenant's caller that would move money in a reserved account."""
    if may_touch_reserved(identity):
        return
    for state in states:
        if state.reserved:
            raise ReservedAccountError(state.id, param=param)


async def lock_accounts(
    conn: Connection, *, tenant_id: str, livemode: bool, refs: Iterable[str]
) -> tuple[dict[str, AccountState], dict[str, str]]:
    """(states by id, id by every name used: id or code). Unknown names are simply absent:
    the caller reports them with the entry that used them."""
    wanted = sorted(set(refs))
    if not wanted:
        return {}, {}
    locked = await accounts_repo.lock(conn, tenant_id=tenant_id, livemode=livemode, refs=wanted)
    return _states(locked)


async def lock_accounts_and_references(
    conn: Connection,
    *,
    tenant_id: str,
    livemode: bool,
    refs: Iterable[str],
    references: Iterable[str],
) -> tuple[dict[str, AccountState], dict[str, str], dict[str, tuple[str, str]]]:
    """`lock_accounts`, and the references among `references` already used (reference_id
    -> (transaction id, body hash)), in one round trip."""
    locked, used = await accounts_repo.lock_with_references(
        conn,
        tenant_id=tenant_id,
        livemode=livemode,
        refs=sorted(set(refs)),
        references=list(references),
    )
    states, by_ref = _states(locked)
    return states, by_ref, used


def _states(locked: list[AccountRow]) -> tuple[dict[str, AccountState], dict[str, str]]:
    states = {account.id: state_of(account) for account in locked}
    by_ref = {account.code: account.id for account in locked if account.code}
    by_ref.update({account.id: account.id for account in locked})  # an id always means that account
    return states, by_ref
