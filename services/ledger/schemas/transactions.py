from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from services.ledger.schemas.accounts import Metadata
from shared.money import MAX_AMOUNT, WHOLE_NUMBER, Amount
from shared.pagination import ListParams
from shared.text import FreeText

# Free text, kept as the client wrote it (shared/text.py).
Description = FreeText

Direction = Literal["debit", "credit"]
TransactionKind = Literal["standard", "pending", "posting", "reversal"]


class EntryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: Annotated[str, Field(min_length=1, max_length=100)]
    # A debit may be written as a negative amount (the seed document's style); it means the
    # same debit. A negative credit contradicts itself and is refused.
    amount: Annotated[int, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT), WHOLE_NUMBER]
    direction: Direction

    @model_validator(mode="after")
    def _sign_matches_direction(self) -> Self:
        if self.amount == 0:
            raise ValueError("amount must not be zero")
        if self.amount < 0 and self.direction == "credit":
            raise ValueError("a credit cannot be negative; write debits as debits")
        self.amount = abs(self.amount)
        return self


class TransactionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reference_id: Annotated[str, Field(min_length=1, max_length=255)]
    description: Description | None = None
    metadata: Metadata = Field(default_factory=dict)
    entries: Annotated[list[EntryRequest], Field(min_length=2, max_length=100)]
    pending: bool = False
    expires_at: datetime | None = None
    # Batch only: succeed or fail together with the next item.
    linked: bool = False

    @field_validator("expires_at")
    @classmethod
    def _expiry_needs_pending(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is not None and not info.data.get("pending"):
            raise ValueError("expires_at applies to pending transactions only")
        if value is not None and value.tzinfo is None:
            raise ValueError("expires_at needs a time zone")
        return value

    def body_hash(self) -> str:
        """What a replay must match: everything but `linked`, with amounts normalised.
        Built by hand rather than through model_dump: it runs once per batch item."""
        canonical = (
            self.reference_id,
            self.description,
            json.dumps(self.metadata, sort_keys=True, default=str),
            [(e.account_id, e.amount, e.direction) for e in self.entries],
            self.pending,
            self.expires_at.isoformat() if self.expires_at else None,
        )
        return hashlib.sha256(repr(canonical).encode()).hexdigest()


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transactions: Annotated[list[TransactionRequest], Field(min_length=1, max_length=1000)]


class PostRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Partial posting of a two-entry hold; the rest of the hold is released.
    amount: Amount | None = None
    reference_id: Annotated[str, Field(min_length=1, max_length=255)] | None = None


class ReverseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference_id: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    description: Description | None = None


class Entry(BaseModel):
    id: str
    object: Literal["ledger.entry"] = "ledger.entry"
    transaction_id: str
    account_id: str
    direction: Direction
    amount: int
    currency: str
    pending: bool
    balance_after: int
    version_after: int
    created: int


TransactionStatus = Literal["posted", "pending", "voided", "expired", "archived"]


class Transaction(BaseModel):
    id: str
    object: Literal["ledger.transaction"] = "ledger.transaction"
    reference_id: str
    description: str | None
    metadata: dict[str, Any]
    kind: TransactionKind
    # pending: a live hold; posted: in the balances; voided/expired: a hold released;
    # archived: a pending transaction that a posting settled.
    status: TransactionStatus
    expires_at: int | None
    parent_id: str | None
    posted_by: str | None
    reversed_by: str | None
    entries: list[Entry]
    livemode: bool
    created: int


class TransactionFilters(ListParams):
    account_id: str | None = None
    reference_id: str | None = None
    created_gte: datetime | None = Field(default=None, alias="created[gte]")
    created_lte: datetime | None = Field(default=None, alias="created[lte]")
