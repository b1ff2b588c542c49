"""The ledger as its clients (payments and the wallet) speak to it.

Money only exists in the ledger ("A cent" in `docs/architecture.md`); payments and the
wallet name its accounts by code and move money with two-leg postings. This module is
that contract, written once:

- the account codes and the accounts behind them: payments' clearing account and the
  tenant's balance, per currency; a wallet's own account; where withdrawn money goes;
- `Posting`: one amount moved from a debit account to a credit account, the only shape
  either client posts, so its legs balance by construction;
- `Scope`, the tenant and mode a call acts in (`shared.scoped`);
- `open_account`: create an account by code, a code already taken meaning it is there.

Calls go through the process's internal client (`shared.internal_client`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shared.internal_client import CallPolicy, Refused, Upstream
from shared.scoped import Scope

__all__ = [
    "Account",
    "Posting",
    "Scope",
    "balance_code",
    "clearing_code",
    "is_reserved_code",
    "open_account",
    "payments_accounts",
    "wallet_account",
    "wallet_code",
    "withdrawals_account",
    "withdrawals_code",
]

# -- account codes ----------------------------------------------------------------------------

# Codes under these are the books of payments and the wallet: what payments owes a tenant,
# what a wallet holds. Only Micro's own services (an internal `service` identity) open them,
# post to them or change them; a tenant that could would mint itself a balance to pay out.
RESERVED_PREFIXES = ("payments.", "wallet.")


def is_reserved_code(code: str | None) -> bool:
    """Whether an account code belongs to payments or the wallet."""
    return code is not None and code.startswith(RESERVED_PREFIXES)


def clearing_code(currency: str) -> str:
    """Money held at the providers for payments, per currency (an asset)."""
    return f"payments.clearing.{currency}"


def balance_code(currency: str) -> str:
    """What payments owes a tenant, per currency (a liability)."""
    return f"payments.balance.{currency}"


def wallet_code(wallet_id: str) -> str:
    """A wallet's own account (payments credits it for a deposit into the wallet)."""
    return f"wallet.{wallet_id}"


def withdrawals_code(currency: str) -> str:
    """Where withdrawn money goes in the ledger: paid out to banks, per currency."""
    return f"wallet.withdrawals.{currency}"


# -- the accounts -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Account:
    """An account a client opens in the ledger, by code, in its currency."""

    code: str
    name: str
    type: Literal["asset", "liability"]
    currency: str
    no_overdraft: bool = False
    metadata: Mapping[str, str] | None = None

    def body(self) -> dict[str, Any]:
        """The request that creates it (`POST /ledger/accounts`)."""
        body: dict[str, Any] = {"name": self.name, "type": self.type, "currency": self.currency}
        if self.no_overdraft:
            body["no_overdraft"] = True
        body["code"] = self.code
        if self.metadata is not None:
            body["metadata"] = dict(self.metadata)
        return body


def payments_accounts(currency: str) -> tuple[Account, Account]:
    """The two accounts payments posts to in a currency: clearing, then the tenant's
    balance. Opened by the relay before the first posting in that currency."""
    return (
        Account(clearing_code(currency), f"Payments clearing ({currency})", "asset", currency),
        Account(balance_code(currency), f"Tenant balance ({currency})", "liability", currency),
    )


def wallet_account(wallet_id: str, *, currency: str, owner: str) -> Account:
    """A wallet's liability account; it never goes below zero."""
    return Account(
        wallet_code(wallet_id),
        f"Wallet {wallet_id}",
        "liability",
        currency,
        no_overdraft=True,
        metadata={"wallet": wallet_id, "owner": owner},
    )


def withdrawals_account(currency: str) -> Account:
    return Account(
        withdrawals_code(currency),
        f"Wallet withdrawals paid out ({currency})",
        "liability",
        currency,
    )


async def open_account(
    ledger: Upstream, scope: Scope, account: Account, *, policy: CallPolicy | None = None
) -> dict[str, Any] | None:
    """Create the account; None when its code is taken, i.e. it was opened before (by a
    retry, another replica, or another client of the same tenant and mode)."""
    try:
        answer = await ledger.call(
            "POST", "/ledger/accounts", scope, body=account.body(), policy=policy
        )
    except Refused as refused:
        if refused.reason_code != "code_taken":
            raise
        return None
    return answer.body


# -- postings ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Posting:
    """`amount` of `currency` moved from the `debit` account to the `credit` account: a
    ledger transaction of two legs, which balance by construction. The ledger takes it
    once per `reference_id` (a repeat replays the first); `pending` makes it a hold."""

    reference_id: str
    description: str
    metadata: Mapping[str, str]
    debit: str
    credit: str
    amount: int
    currency: str
    pending: bool = False

    def reversed(self, *, reference_id: str, description: str) -> Posting:
        """The same amount moved back: the legs swapped, under a reference of its own."""
        return Posting(
            reference_id=reference_id,
            description=description,
            metadata=self.metadata,
            debit=self.credit,
            credit=self.debit,
            amount=self.amount,
            currency=self.currency,
            pending=self.pending,
        )

    def body(self) -> dict[str, Any]:
        """The request that posts it (`POST /ledger/transactions`)."""
        body: dict[str, Any] = {
            "reference_id": self.reference_id,
            "description": self.description,
            "metadata": dict(self.metadata),
        }
        if self.pending:
            body["pending"] = True
        body["entries"] = [
            {"account_id": self.debit, "amount": self.amount, "direction": "debit"},
            {"account_id": self.credit, "amount": self.amount, "direction": "credit"},
        ]
        return body
