"""Request and response models of the wallet API."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from services.wallet.repository.history import HistoryRow, TransactionType
from services.wallet.repository.operations import OperationRow, OperationStatus, OperationType
from services.wallet.repository.wallets import WalletRow, WalletStatus
from shared.money import WHOLE_NUMBER, Amount, Currency
from shared.pagination import ListParams
from shared.text import FreeText
from shared.timeutil import unix

# Free text, kept as the client wrote it (shared/text.py).
Description = FreeText

Metadata = Annotated[dict[str, str], Field(max_length=50)]
WalletId = Annotated[str, Field(min_length=1, max_length=100)]
# Card payments and payouts go through payments, whose largest amount is eight digits.
ExternalAmount = Annotated[int, Field(gt=0, le=99_999_999), WHOLE_NUMBER]
Provider = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CreateWalletRequest(_Request):
    owner: (
        Annotated[
            str,
            Field(
                min_length=1,
                max_length=200,
                description="A user id of the tenant or the tenant's own customer reference. Left "
                "out: a signed-in USER's own id, or the tenant's id (the tenant's own wallet) for "
                "API keys and admins.",
            ),
        ]
        | None
    ) = None
    currency: Currency
    metadata: Metadata = Field(default_factory=dict)


class WalletFilters(ListParams):
    owner: str | None = None
    currency: str | None = None
    status: WalletStatus | None = None
    # Platform admins only: one tenant's wallets.
    tenant_id: str | None = None


class DepositRequest(_Request):
    wallet_id: WalletId
    amount: ExternalAmount
    # The simulator's test card by default; hosted providers (paystack, flutterwave) take
    # none: the customer picks one on the provider's page (the deposit's next_action).
    payment_method: Annotated[str, Field(pattern=r"^pm_[A-Za-z0-9_]{1,100}$")] | None = None
    provider: Provider = "simulator"
    description: Description | None = None

    @model_validator(mode="after")
    def _default_method(self) -> Self:
        if self.payment_method is None and self.provider == "simulator":
            self.payment_method = "pm_card_visa"
        return self


class TransferRequest(_Request):
    from_wallet_id: WalletId
    to_wallet_id: WalletId
    amount: Amount
    description: Description | None = None

    @field_validator("to_wallet_id")
    @classmethod
    def _two_wallets(cls, value: str, info: ValidationInfo) -> str:
        if value == info.data.get("from_wallet_id"):
            raise ValueError("must differ from from_wallet_id")
        return value


class Destination(_Request):
    account_number: Annotated[str, Field(pattern=r"^[0-9]{10}$")]
    bank_code: Annotated[str, Field(pattern=r"^[0-9A-Za-z]{3,11}$")]
    account_name: Annotated[str, Field(min_length=1, max_length=200)] | None = None


_BANK_FIELDS = ("account_number", "bank_code", "account_name")


class WithdrawRequest(_Request):
    wallet_id: WalletId
    amount: ExternalAmount
    destination: Destination
    provider: Provider = "simulator"
    description: Description | None = None

    @model_validator(mode="before")
    @classmethod
    def _flat_bank_details(cls, data: Any) -> Any:
        """Bank details may also come flat, beside the amount, as seed clients send them."""
        if isinstance(data, dict) and "destination" not in data:
            flat = {name: data[name] for name in _BANK_FIELDS if name in data}
            if flat:
                rest = {k: v for k, v in data.items() if k not in _BANK_FIELDS}
                return {**rest, "destination": flat}
        return data


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
    def from_row(cls, row: WalletRow) -> Wallet:
        return cls(
            id=row.id,
            owner=row.owner,
            currency=row.currency,
            ledger_account_id=row.ledger_account_id,
            status=row.status,
            metadata=row.metadata,
            livemode=row.livemode,
            created=unix(row.created_at),
        )


class WalletBalance(BaseModel):
    object: Literal["wallet.balance"] = "wallet.balance"
    wallet_id: str
    currency: str
    # What can be sent now: posted minus the holds of withdrawals in flight.
    available: int
    # Held for withdrawals in flight.
    pending: int
    posted: int
    livemode: bool


class WalletOperation(BaseModel):
    id: str
    object: Literal["wallet.operation"] = "wallet.operation"
    type: OperationType
    status: OperationStatus
    amount: int
    currency: str
    wallet_id: str
    from_wallet_id: str | None
    to_wallet_id: str | None
    description: str | None
    ledger_transaction_id: str | None
    payment_intent: str | None
    payout: str | None
    # A refund's payments refund, a reversal's withdrawal operation.
    source: str | None
    destination: dict[str, Any] | None
    next_action: dict[str, Any] | None
    failure_code: str | None
    failure_message: str | None
    livemode: bool
    created: int

    @classmethod
    def from_row(cls, row: OperationRow) -> WalletOperation:
        destination = row.destination
        if destination:
            # The full account number stays with us: show its last four digits.
            destination = {
                **destination,
                "account_number": "******" + destination["account_number"][-4:],
            }
        return cls(
            id=row.id,
            type=row.type,
            status=row.status,
            amount=row.amount,
            currency=row.currency,
            wallet_id=row.wallet_id,
            from_wallet_id=row.wallet_id if row.type == "transfer" else None,
            to_wallet_id=row.to_wallet_id,
            description=row.description,
            ledger_transaction_id=row.ledger_transaction_id,
            payment_intent=row.payment_intent_id,
            payout=row.payout_id,
            source=row.source_id,
            destination=destination,
            next_action=row.next_action,
            failure_code=row.failure_code,
            failure_message=row.failure_message,
            livemode=row.livemode,
            created=unix(row.created_at),
        )


class WalletTransaction(BaseModel):
    id: str
    object: Literal["wallet.transaction"] = "wallet.transaction"
    wallet_id: str
    operation: str
    type: TransactionType
    counterparty: str | None
    amount: int
    # The signed change to the wallet: positive in, negative out.
    net: int
    currency: str
    status: OperationStatus
    balance_after: int | None
    description: str | None
    livemode: bool
    created: int

    @classmethod
    def from_row(cls, row: HistoryRow) -> WalletTransaction:
        inbound = row.type in ("deposit", "transfer_in", "reversal")
        return cls(
            id=row.id,
            wallet_id=row.wallet_id,
            operation=row.operation_id,
            type=row.type,
            counterparty=row.counterparty,
            amount=row.amount,
            net=row.amount if inbound else -row.amount,
            currency=row.currency,
            status=row.status,
            balance_after=row.balance_after,
            description=row.description,
            livemode=row.livemode,
            created=unix(row.created_at),
        )


class TransactionFilters(ListParams):
    type: TransactionType | None = None
    status: OperationStatus | None = None
