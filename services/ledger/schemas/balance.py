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
