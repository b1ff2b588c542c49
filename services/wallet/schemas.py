"""Request and response models of the wallet API."""

from __future__ import annotations

import json
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel

from shared.timeutil import unix

WalletStatus = Literal["active", "frozen"]


class Wallet(BaseModel):
    id: str
    object: Literal["wallet"] = "wallet"
    owner: str
    currency: str
    ledger_account_id: str
    status: WalletStatus
    metadata: dict[str, Any]
    livemode: bool
    created: int

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Wallet:
        return cls(
            id=row["id"],
            owner=row["owner"],
            currency=row["currency"],
            ledger_account_id=row["ledger_account_id"],
            status=row["status"],
            metadata=json.loads(row["metadata"]),
            livemode=row["livemode"],
            created=unix(row["created_at"]),
        )
