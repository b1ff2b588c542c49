"""The posting engine: pure arithmetic over locked account states, no I/O.

Given the accounts a batch touches (locked, in memory), it applies transactions one after
another, refusing any that would break a rule, and produces the rows to write: entries with
the balance and version after each, holds, and one summed change per account.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from services.ledger.errors import InsufficientFundsError, UnbalancedError
from services.ledger.repository.rows import NewEntry, NewHold
from services.ledger.schemas.accounts import DEBIT_NORMAL
from shared.ids import new_id


@dataclass(slots=True)
class AccountState:
    id: str
    type: str
    currency: str
    no_overdraft: bool
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    # Parts of the pending totals whose holds have lapsed (not yet swept).
    expired_debits: int
    expired_credits: int
    version: int
    # Payments' or the wallet's (shared/ledger_contract.is_reserved_code).
    reserved: bool = False

    @property
    def debit_normal(self) -> bool:
        return self.type in DEBIT_NORMAL

    @property
    def posted(self) -> int:
        raw = self.debits_posted - self.credits_posted
        return raw if self.debit_normal else -raw

    @property
    def held_debits(self) -> int:
        """Pending debits still held: a lapsed hold no longer counts, swept or not."""
        return self.debits_pending - self.expired_debits

    @property
    def held_credits(self) -> int:
        return self.credits_pending - self.expired_credits

    @property
    def available(self) -> int:
        """Posted, less what holds take out (an inflow counts only once posted)."""
        return self.posted - (self.held_credits if self.debit_normal else self.held_debits)

    def snapshot(self) -> tuple[int, int, int, int, int]:
        return (
            self.debits_posted,
            self.credits_posted,
            self.debits_pending,
            self.credits_pending,
            self.version,
        )

    def restore(self, values: tuple[int, int, int, int, int]) -> None:
        (
            self.debits_posted,
            self.credits_posted,
            self.debits_pending,
            self.credits_pending,
            self.version,
        ) = values


@dataclass(slots=True)
class Leg:
    account_id: str
    direction: str
    amount: int
    # Where it lands: the posted totals, a new hold, or the release of a hold.
    effect: str = "posted"  # "posted" | "hold" | "release"
    param: str | None = None


@dataclass(slots=True)
class Plan:
    """Everything one batch writes."""

    entries: list[NewEntry] = field(default_factory=list)
    holds: list[NewHold] = field(default_factory=list)


def check_balanced(legs: Sequence[Leg], accounts: dict[str, AccountState]) -> None:
    """Debits equal credits in every currency the legs touch."""
    totals: dict[str, int] = defaultdict(int)
    for leg in legs:
        totals[accounts[leg.account_id].currency] += (
            leg.amount if leg.direction == "debit" else -leg.amount
        )
    for currency, difference in totals.items():
        if difference:
            raise UnbalancedError(currency, difference)


def apply(
    transaction_id: str, legs: Iterable[Leg], accounts: dict[str, AccountState], plan: Plan
) -> None:
    """Apply legs in order; on a broken rule, raise and leave `accounts` and `plan` as they were."""
    legs = list(legs)
    touched = {leg.account_id for leg in legs}
    before = {account_id: accounts[account_id].snapshot() for account_id in touched}
    entries_before, holds_before = len(plan.entries), len(plan.holds)
    try:
        for leg in legs:
            _apply_leg(transaction_id, leg, accounts[leg.account_id], plan)
        for account_id in touched:
            account = accounts[account_id]
            if account.no_overdraft and account.available < 0:
                leg = next(leg for leg in legs if leg.account_id == account_id)
                raise InsufficientFundsError(account_id, leg.param)
    except Exception:
        for account_id, values in before.items():
            accounts[account_id].restore(values)
        del plan.entries[entries_before:]
        del plan.holds[holds_before:]
        raise


def _apply_leg(transaction_id: str, leg: Leg, account: AccountState, plan: Plan) -> None:
    debit = leg.direction == "debit"
    if leg.effect == "posted":
        if debit:
            account.debits_posted += leg.amount
        else:
            account.credits_posted += leg.amount
    elif leg.effect == "hold":
        if debit:
            account.debits_pending += leg.amount
        else:
            account.credits_pending += leg.amount
        plan.holds.append(NewHold(transaction_id, account.id, leg.direction, leg.amount))
    else:  # release: the hold leaves the pending totals; no entry, history keeps the hold
        if debit:
            account.debits_pending -= leg.amount
        else:
            account.credits_pending -= leg.amount
        account.version += 1
        return
    account.version += 1
    plan.entries.append(
        NewEntry(
            id=new_id("ent"),
            transaction_id=transaction_id,
            account_id=account.id,
            direction=leg.direction,
            amount=leg.amount,
            currency=account.currency,
            pending=leg.effect == "hold",
            balance_after=account.posted,
            version_after=account.version,
        )
    )


def account_changes(
    accounts: dict[str, AccountState], original: dict[str, tuple[int, int, int, int, int]]
) -> list[tuple[str, int, int, int, int, int]]:
    """One summed change per account: (id, +debits, +credits, +pending debits,
    +pending credits, new version)."""
    changes = []
    for account_id, before in original.items():
        after = accounts[account_id].snapshot()
        if after != before:
            changes.append(
                (
                    account_id,
                    after[0] - before[0],
                    after[1] - before[1],
                    after[2] - before[2],
                    after[3] - before[3],
                    after[4],
                )
            )
    return changes
