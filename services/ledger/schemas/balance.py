"""The tenant's balance in Stripe's shape (`GET /ledger/balance`, `GET /v1/balance`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class BalanceSourceTypes(BaseModel):
    card: int = Field(
        description="The part that came from card payments: all of it (Micro takes cards only)."
    )


class BalanceAmount(BaseModel):
    amount: int = Field(examples=[5000], description="Minor units of `currency`.")
    currency: str = Field(examples=["usd"])
    source_types: BalanceSourceTypes


class TenantBalance(BaseModel):
    object: Literal["balance"] = "balance"
    available: list[BalanceAmount] = Field(
        description="Per currency: what payments owes the tenant, posted and not held for a "
        "movement still on its way out; what a payout can take now."
    )
    pending: list[BalanceAmount] = Field(
        description="Per currency: money held on its way in (pending credits), counted once "
        "it is posted."
    )
    livemode: bool


class TrialBalanceCurrency(BaseModel):
    currency: str = Field(examples=["usd"])
    accounts: int = Field(description="How many of the tenant's accounts hold this currency.")
    debits: int = Field(
        examples=[5000], description="The sum of every posted debit to those accounts."
    )
    credits: int = Field(
        examples=[5000], description="The sum of every posted credit to those accounts."
    )
    difference: int = Field(
        examples=[0], description="`debits - credits`: zero in a ledger that balances."
    )
    debit_balances: int = Field(
        description="The sum of the accounts' net balances on the debit side (debits beyond "
        "credits)."
    )
    credit_balances: int = Field(
        description="The sum of the accounts' net balances on the credit side (credits beyond "
        "debits); equal to `debit_balances` in a ledger that balances."
    )
    balanced: bool = Field(description="True when `difference` is zero.")


class TrialBalance(BaseModel):
    object: Literal["ledger.trial_balance"] = "ledger.trial_balance"
    currencies: list[TrialBalanceCurrency] = Field(
        description="One line per currency the tenant has accounts in, by currency code."
    )
    balanced: bool = Field(description="True when every currency's line balances.")
    livemode: bool
