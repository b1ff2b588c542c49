"""Request and response models of the ledger API."""

from __future__ import annotations

import json
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel

from shared.timeutil import unix

AccountType = Literal["asset", "liability", "equity", "revenue", "expense"]
# Assets and expenses grow with debits; the others with credits.
DEBIT_NORMAL: frozenset[str] = frozenset({"asset", "expense"})


class Balance(BaseModel):
    posted: int
    pending_debits: int
    pending_credits: int
    available: int


class Account(BaseModel):
    id: str
    object: Literal["ledger.account"] = "ledger.account"
    name: str
    type: AccountType
    currency: str
    no_overdraft: bool
    metadata: dict[str, Any]
    balance: Balance
    version: int
    livemode: bool
    created: int

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Account:
        sign = 1 if row["type"] in DEBIT_NORMAL else -1
        posted = sign * (row["debits_posted"] - row["credits_posted"])
        outflow = row["credits_pending"] if sign == 1 else row["debits_pending"]
        return cls(
            id=row["id"],
            name=row["name"],
            type=row["type"],
            currency=row["currency"],
            no_overdraft=row["no_overdraft"],
            metadata=json.loads(row["metadata"]),
            balance=Balance(
                posted=posted,
                pending_debits=row["debits_pending"],
                pending_credits=row["credits_pending"],
                available=posted - outflow,
            ),
            version=row["version"],
            livemode=row["livemode"],
            created=unix(row["created_at"]),
        )
