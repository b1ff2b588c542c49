"""Locking the accounts a change touches, and reading them as engine states."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from services.ledger.repository import accounts as account_rows
from services.ledger.service.engine import AccountState
from shared.db import Connection


def state_of(row: asyncpg.Record) -> AccountState:
    return AccountState(
        id=row["id"],
        type=row["type"],
        currency=row["currency"],
        no_overdraft=row["no_overdraft"],
        debits_posted=row["debits_posted"],
        credits_posted=row["credits_posted"],
        debits_pending=row["debits_pending"],
        credits_pending=row["credits_pending"],
        expired_debits=row["expired_debits"],
        expired_credits=row["expired_credits"],
        version=row["version"],
    )


async def lock_accounts(
    conn: Connection, *, tenant_id: str, livemode: bool, refs: Iterable[str]
) -> tuple[dict[str, AccountState], dict[str, str]]:
    """(states by id, id by every name used: id or code). Unknown names are simply absent:
    the caller reports them with the entry that used them."""
    wanted = sorted(set(refs))
    if not wanted:
        return {}, {}
    rows = await account_rows.lock(conn, tenant_id=tenant_id, livemode=livemode, refs=wanted)
    states = {row["id"]: state_of(row) for row in rows}
    by_ref = {row["code"]: row["id"] for row in rows if row["code"]}
    by_ref.update({row["id"]: row["id"] for row in rows})  # an id always means that account
    return states, by_ref
