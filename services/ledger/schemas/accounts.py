from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.ids import is_id
from shared.money import Currency
from shared.pagination import ListParams

AccountType = Literal["asset", "liability", "equity", "revenue", "expense"]
# Assets and expenses grow with debits; the others with credits.
DEBIT_NORMAL: frozenset[str] = frozenset({"asset", "expense"})
Metadata = Annotated[dict[str, Any], Field(max_length=50)]
Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


class AccountCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("code")
    @classmethod
    def _code_is_not_an_id(cls, code: str | None) -> str | None:
        if code is not None and is_id(code, "acc"):
            raise ValueError("a code cannot have the form of an account id")
        return code

    name: Annotated[str, Field(min_length=1, max_length=200)]
    type: AccountType
    currency: Currency
    no_overdraft: bool = False
    code: Code | None = None
    metadata: Metadata = Field(default_factory=dict)


class AccountUpdateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    metadata: Metadata | None = None


class Balance(BaseModel):
    posted: int
    pending_debits: int
    pending_credits: int
    available: int


class Account(BaseModel):
    id: str
    object: Literal["ledger.account"] = "ledger.account"
    name: str
    code: str | None
    type: AccountType
    currency: str
    no_overdraft: bool
    metadata: dict[str, Any]
    balance: Balance
    version: int
    livemode: bool
    created: int


class HistoricalBalance(BaseModel):
    object: Literal["ledger.balance"] = "ledger.balance"
    account_id: str
    at: int
    posted: int
    version: int


class AccountFilters(ListParams):
    currency: str | None = None
    type: str | None = None
