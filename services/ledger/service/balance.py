"""The tenant's balance, as Stripe's balance object: read from the accounts payments posts to.

Money only exists in the ledger, so this is read from it and nowhere else. What payments owes
a tenant in a currency is the liability `payments.balance.<currency>`
(`shared/ledger_contract.py`): a succeeded payment credits it, a refund and a paid payout
debit it. Per currency, `available` is that account's available balance (posted, less holds
on their way out: what a payout can take now) and `pending` its pending credits (holds on
their way in, counted in `available` once posted). Wallets' accounts are not in it: their
money is the wallet owners', not the tenant's.
"""

from __future__ import annotations

from services.ledger.repository import accounts as accounts_repo
from services.ledger.schemas.balance import (
    BalanceAmount,
    BalanceSourceTypes,
    TenantBalance,
    TrialBalance,
    TrialBalanceCurrency,
)
from services.ledger.service.locking import state_of
from services.ledger.state import LedgerState
from shared.db import transaction
from shared.identity import Identity
from shared.ledger_contract import balance_code

_BALANCES = balance_code("")


async def tenant_balance(ledger: LedgerState, identity: Identity) -> TenantBalance:
    async with transaction(ledger.pool) as conn:
        accounts = await accounts_repo.coded_under(
            conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, prefix=_BALANCES
        )
    available, pending = [], []
    for account in accounts:
        # Only the account payments opens for its currency (its code is the currency's).
        if account.code != balance_code(account.currency):
            continue
        state = state_of(account)
        available.append(_amount(state.available, account.currency))
        pending.append(_amount(state.held_credits, account.currency))
    return TenantBalance(available=available, pending=pending, livemode=identity.livemode)


def _amount(amount: int, currency: str) -> BalanceAmount:
    return BalanceAmount(
        amount=amount, currency=currency, source_types=BalanceSourceTypes(card=amount)
    )


async def trial_balance(ledger: LedgerState, identity: Identity) -> TrialBalance:
    """Per currency, the posted debits and credits over every account of the tenant and mode
    (summed in the database): a double-entry ledger's two columns are equal."""
    async with transaction(ledger.pool) as conn:
        totals = await accounts_repo.currency_totals(
            conn, tenant_id=identity.tenant_scope, livemode=identity.livemode
        )
    lines = [
        TrialBalanceCurrency(
            currency=line.currency,
            accounts=line.accounts,
            debits=line.debits,
            credits=line.credits,
            difference=line.debits - line.credits,
            debit_balances=line.debit_balances,
            credit_balances=line.credit_balances,
            balanced=line.debits == line.credits,
        )
        for line in totals
    ]
    return TrialBalance(
        currencies=lines,
        balanced=all(line.balanced for line in lines),
        livemode=identity.livemode,
    )
