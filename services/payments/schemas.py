"""Request and response models of the payments API (Stripe's PaymentIntents shape)."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from services.payments.providers.simulator import simulated_method
from services.payments.repository.intents import IntentRow
from services.payments.repository.outbox import RefusedPostingRow
from services.payments.repository.payouts import PayoutRow
from services.payments.repository.refunds import RefundRow
from shared.money import MAX_AMOUNT, WHOLE_NUMBER, Currency
from shared.timeutil import unix

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

PaymentIntentStatus = Literal[
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "processing",
    "requires_capture",
    "succeeded",
    "canceled",
]
CaptureMethod = Literal["automatic", "manual"]
# Stripe's largest charge is eight digits of minor units; the same bound here.
PaymentAmount = Annotated[int, Field(gt=0, le=99_999_999), WHOLE_NUMBER]
Metadata = Annotated[dict[str, str], Field(max_length=50)]
CancellationReason = Literal["duplicate", "fraudulent", "requested_by_customer", "abandoned"]
ProviderName = Literal["simulator", "paystack", "flutterwave"]
HostedProvider = Literal["paystack", "flutterwave"]
ReturnUrl = Annotated[str, Field(max_length=2000, pattern=r"^https?://[^\s]+$")]
WalletId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]


def _known_method(value: str) -> str:
    method = simulated_method(value)
    if method is None:
        raise ValueError(
            f"no such payment method {value!r} (test methods: pm_card_visa, ..., or a test "
            "card number such as 4242424242424242)"
        )
    return method


PaymentMethod = Annotated[str, AfterValidator(_known_method)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CreateIntentRequest(_Request):
    amount: PaymentAmount
    currency: Currency
    description: Annotated[str, Field(max_length=1000)] | None = None
    metadata: Metadata = Field(default_factory=dict)
    receipt_email: EmailStr | None = None
    provider: ProviderName = "simulator"
    payment_method: PaymentMethod | None = None
    confirm: bool = False
    capture_method: CaptureMethod = "automatic"
    wallet_id: WalletId | None = None
    # Where a hosted provider sends the customer back (default: our own return page).
    return_url: ReturnUrl | None = None


class UpdateIntentRequest(_Request):
    amount: PaymentAmount | None = None
    currency: Currency | None = None
    description: Annotated[str, Field(max_length=1000)] | None = None
    metadata: Metadata | None = None
    receipt_email: EmailStr | None = None
    payment_method: PaymentMethod | None = None


class ConfirmIntentRequest(_Request):
    payment_method: PaymentMethod | None = None
    return_url: ReturnUrl | None = None


class CancelIntentRequest(_Request):
    cancellation_reason: CancellationReason | None = None


class CaptureIntentRequest(_Request):
    amount_to_capture: Annotated[int, Field(gt=0, le=MAX_AMOUNT), WHOLE_NUMBER] | None = None


class PaymentIntent(BaseModel):
    id: str
    object: Literal["payment_intent"] = "payment_intent"
    amount: int
    amount_capturable: int
    amount_received: int
    currency: str
    status: PaymentIntentStatus
    capture_method: CaptureMethod
    provider: str
    payment_method: str | None
    description: str | None
    metadata: dict[str, Any]
    receipt_email: str | None
    wallet_id: str | None
    last_payment_error: dict[str, Any] | None
    next_action: dict[str, Any] | None
    cancellation_reason: str | None
    canceled_at: int | None
    livemode: bool
    created: int

    @classmethod
    def from_row(cls, row: IntentRow) -> PaymentIntent:
        return cls.model_validate(
            {
                **_columns(row),
                "canceled_at": unix(row.canceled_at) if row.canceled_at else None,
                "created": unix(row.created_at),
            }
        )


def _columns(row: DataclassInstance) -> dict[str, Any]:
    """A row's columns by name: a model takes the ones it shows (the rest are ignored)."""
    return {field.name: getattr(row, field.name) for field in fields(row)}


class RefundRequest(_Request):
    payment_intent: Annotated[str, Field(min_length=1, max_length=100)]
    amount: PaymentAmount | None = None
    reason: Literal["duplicate", "fraudulent", "requested_by_customer"] | None = None


class RefundFilters(BaseModel):
    model_config = ConfigDict(extra="ignore")

    payment_intent: str | None = None


class Refund(BaseModel):
    id: str
    object: Literal["refund"] = "refund"
    payment_intent: str
    amount: int
    currency: str
    status: Literal["pending", "succeeded", "failed"]
    reason: str | None
    livemode: bool
    created: int

    @classmethod
    def from_row(cls, row: RefundRow) -> Refund:
        return cls.model_validate(
            {
                **_columns(row),
                "payment_intent": row.payment_intent_id,
                "created": unix(row.created_at),
            }
        )


class Destination(_Request):
    account_number: Annotated[str, Field(pattern=r"^[0-9]{10}$")]
    bank_code: Annotated[str, Field(pattern=r"^[0-9A-Za-z]{3,11}$")]
    account_name: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class PayoutRequest(_Request):
    amount: PaymentAmount
    currency: Currency
    destination: Destination
    provider: ProviderName = "simulator"
    description: Annotated[str, Field(max_length=1000)] | None = None
    metadata: Metadata = Field(default_factory=dict)
    # A wallet's withdrawal: the wallet service holds and settles the money in the ledger.
    wallet_id: WalletId | None = None


class PayoutFilters(BaseModel):
    model_config = ConfigDict(extra="ignore")

    wallet_id: str | None = None
    status: Literal["pending", "paid", "failed"] | None = None


class Payout(BaseModel):
    id: str
    object: Literal["payout"] = "payout"
    amount: int
    currency: str
    status: Literal["pending", "paid", "failed"]
    provider: str
    destination: dict[str, Any]
    description: str | None
    metadata: dict[str, Any]
    failure_code: str | None
    failure_message: str | None
    wallet_id: str | None
    livemode: bool
    created: int

    @classmethod
    def from_row(cls, row: PayoutRow) -> Payout:
        # The full account number stays with us: show its last four digits.
        number = row.destination["account_number"]
        return cls.model_validate(
            {
                **_columns(row),
                "destination": {**row.destination, "account_number": "******" + number[-4:]},
                "created": unix(row.created_at),
            }
        )


class CredentialsRequest(_Request):
    secret_key: Annotated[str, Field(min_length=8, max_length=500, pattern=r"^\S+$")]
    public_key: Annotated[str, Field(min_length=1, max_length=500, pattern=r"^\S+$")] | None = None
    # Flutterwave's webhook secret hash (Paystack signs with the secret key itself).
    webhook_secret: Annotated[str, Field(min_length=8, max_length=500)] | None = None


class ProviderCredentials(BaseModel):
    """A provider account as the API shows it: secrets masked, never returned."""

    object: Literal["provider_credentials"] = "provider_credentials"
    provider: HostedProvider
    source: Literal["tenant", "platform", "none"]
    public_key: str | None
    secret_key: str | None
    webhook_secret: str | None
    # Where to point the provider's webhooks for this account.
    webhook_url: str
    livemode: bool
    updated: int | None


class LedgerRefusal(BaseModel):
    """What the ledger answered when it refused a posting (its shared error JSON)."""

    status: int
    type: str | None
    code: str
    message: str


class LedgerPosting(BaseModel):
    """A posting payments owes the ledger (the object of `ledger.posting.failed`)."""

    id: str
    object: Literal["ledger_posting"] = "ledger_posting"
    reference_id: str
    status: Literal["pending", "posted", "failed"]
    transaction: dict[str, Any]
    attempts: int
    failure: LedgerRefusal | None
    livemode: bool
    created: int

    @classmethod
    def from_row(cls, row: RefusedPostingRow) -> LedgerPosting:
        failure = row.failure
        return cls(
            id=row.id,
            reference_id=row.reference_id,
            status="failed" if failure is not None else "pending",
            transaction=row.body,
            attempts=row.attempts,
            failure=LedgerRefusal.model_validate(failure) if failure is not None else None,
            livemode=row.livemode,
            created=unix(row.created_at),
        )
