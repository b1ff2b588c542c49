"""The ledger's rows: what the repositories read back (frozen, one per table) and what a
posting writes (built by the engine, thousands per batch).

A read row's fields are the columns its queries return (`shared.rows`); the JSON `metadata`
column arrives decoded and every amount as an int.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.ledger.schemas.accounts import AccountType
from services.ledger.schemas.transactions import Direction, TransactionKind

# ---------------------------------------------------------------------------------------
# Read


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: str
    tenant_id: str
    livemode: bool
    name: str
    code: str | None
    type: AccountType
    currency: str
    no_overdraft: bool
    metadata: dict[str, Any]
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    version: int
    created_at: datetime
    # Parts of the pending totals whose holds have lapsed (not yet swept).
    expired_debits: int
    expired_credits: int


@dataclass(frozen=True, slots=True)
class TransactionRow:
    """A transaction with what settled it: its resolution (a pending one) and its reversal."""

    id: str
    tenant_id: str
    livemode: bool
    reference_id: str
    description: str | None
    metadata: dict[str, Any]
    kind: TransactionKind
    expires_at: datetime | None
    parent_id: str | None
    created_at: datetime
    outcome: str | None  # "posted" | "voided" | "expired", once resolved
    posting_id: str | None
    reversed_by: str | None


@dataclass(frozen=True, slots=True)
class EntryRow:
    id: str
    transaction_id: str
    account_id: str
    direction: Direction
    amount: int
    currency: str
    pending: bool
    balance_after: int
    version_after: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class HoldRow:
    account_id: str
    direction: Direction
    amount: int
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class LapsedHold:
    """A pending transaction whose holds have lapsed, with its scope."""

    transaction_id: str
    tenant_id: str
    livemode: bool


# ---------------------------------------------------------------------------------------
# Written


@dataclass(frozen=True, slots=True)
class NewTransaction:
    id: str
    reference_id: str
    description: str | None
    metadata: dict[str, Any]
    kind: TransactionKind
    expires_at: datetime | None
    parent_id: str | None
    body_hash: str


# Plain (not frozen) dataclasses: a batch makes thousands, and frozen ones build slowly.
@dataclass(slots=True)
class NewEntry:
    id: str
    transaction_id: str
    account_id: str
    direction: str
    amount: int
    currency: str
    pending: bool
    balance_after: int
    version_after: int


@dataclass(slots=True)
class NewHold:
    transaction_id: str
    account_id: str
    direction: str
    amount: int


@dataclass(frozen=True, slots=True)
class CurrencyTotalsRow:
    """One currency's posted totals over a tenant's accounts (the trial balance)."""

    currency: str
    accounts: int
    debits: int
    credits: int
    debit_balances: int
    credit_balances: int
