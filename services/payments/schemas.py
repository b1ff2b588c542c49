"""Request and response models of the payments API (Stripe's PaymentIntents shape)."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    RootModel,
    field_validator,
)

from services.payments.providers.simulator import card_of, simulated_method
from services.payments.repository.attempts import AttemptRow
from services.payments.repository.customers import CustomerRow, PaymentMethodRow
from services.payments.repository.intents import IntentRow
from services.payments.repository.outbox import RefusedPostingRow
from services.payments.repository.payouts import PayoutRow
from services.payments.repository.refunds import RefundRow
from shared.ids import is_id
from shared.money import MAX_AMOUNT, WHOLE_NUMBER, Currency
from shared.text import FreeText
from shared.timeutil import unix

# Latest unix time a `created` filter takes (year 9999).
MAX_UNIX = 253402300799

# Free text, kept as the client wrote it (shared/text.py).
Description = FreeText

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
    if is_id(value, "pm"):
        return value  # a method attached to a customer: looked up where it is used
    method = simulated_method(value)
    if method is None:
        raise ValueError(
            f"no such payment method {value!r} (test methods: pm_card_visa, ..., a test "
            "card number such as 4242424242424242, or a pm_ attached to a customer)"
        )
    return method


PaymentMethodId = Annotated[str, AfterValidator(_known_method)]
CustomerId = Annotated[str, Field(min_length=1, max_length=100)]
# `expand[]`: checked against what each object can expand (`service/expand.py`).
Expand = Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=20)]
# An expandable field: the id, or with `expand[]` the object itself.
Expandable = str | dict[str, Any] | None
ShortText = Annotated[str, Field(max_length=500)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CreateIntentRequest(_Request):
    amount: PaymentAmount
    currency: Currency
    description: Description | None = None
    metadata: Metadata = Field(default_factory=dict)
    receipt_email: EmailStr | None = None
    provider: ProviderName = "simulator"
    payment_method: PaymentMethodId | None = None
    confirm: bool = False
    capture_method: CaptureMethod = "automatic"
    wallet_id: WalletId | None = None
    # Where a hosted provider sends the customer back (default: our own return page).
    return_url: ReturnUrl | None = None
    customer: CustomerId | None = None
    expand: Expand = Field(default_factory=list)


class UpdateIntentRequest(_Request):
    amount: PaymentAmount | None = None
    currency: Currency | None = None
    description: Description | None = None
    metadata: Metadata | None = None
    receipt_email: EmailStr | None = None
    payment_method: PaymentMethodId | None = None
    customer: CustomerId | None = None
    expand: Expand = Field(default_factory=list)


class ConfirmIntentRequest(_Request):
    payment_method: PaymentMethodId | None = None
    return_url: ReturnUrl | None = None
    expand: Expand = Field(default_factory=list)


class CancelIntentRequest(_Request):
    cancellation_reason: CancellationReason | None = None
    expand: Expand = Field(default_factory=list)


class CaptureIntentRequest(_Request):
    amount_to_capture: Annotated[int, Field(gt=0, le=MAX_AMOUNT), WHOLE_NUMBER] | None = None
    expand: Expand = Field(default_factory=list)


class ExpandQuery(BaseModel):
    """`expand[]` on a read, from the query string."""

    model_config = ConfigDict(extra="ignore")

    expand: Expand = Field(default_factory=list)


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
    payment_method: Expandable
    customer: Expandable
    # The charge of the latest attempt at a provider (`Charge`); null before the first.
    latest_charge: Expandable
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
                "customer": row.customer_id,
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
    metadata: Metadata = Field(default_factory=dict)
    expand: Expand = Field(default_factory=list)


class UpdateRefundRequest(_Request):
    # Merged into the refund's (a key set to "" is removed), as Stripe updates metadata.
    metadata: Annotated[dict[str, ShortText], Field(max_length=50)] | None = None
    expand: Expand = Field(default_factory=list)


class CreatedRange(BaseModel):
    """`created[gte]=T` and friends, in unix seconds."""

    model_config = ConfigDict(extra="forbid")

    gt: Annotated[int, Field(ge=0, le=MAX_UNIX)] | None = None
    gte: Annotated[int, Field(ge=0, le=MAX_UNIX)] | None = None
    lt: Annotated[int, Field(ge=0, le=MAX_UNIX)] | None = None
    lte: Annotated[int, Field(ge=0, le=MAX_UNIX)] | None = None


class IntentFilters(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: PaymentIntentStatus | None = None
    provider: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    # `created=T` (exactly) or `created[gte]=T`, `created[lte]=T` (and gt, lt), unix seconds.
    created: CreatedRange | None = None

    @field_validator("created", mode="before")
    @classmethod
    def _exact_created(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else {"gte": value, "lte": value}

    def created_bounds(self) -> dict[str, int]:
        """Comparison operator -> unix seconds."""
        if self.created is None:
            return {}
        ops = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
        return {
            ops[name]: value
            for name, value in self.created.model_dump().items()
            if value is not None
        }


# Most days the volume summary covers.
MAX_VOLUME_DAYS = 90


class VolumeQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # The last this many days (UTC), today included.
    days: Annotated[int, Field(ge=1, le=MAX_VOLUME_DAYS)] = 7


class VolumeDay(BaseModel):
    """Succeeded payments created on one UTC day, in one currency."""

    object: Literal["payment_volume.day"] = "payment_volume.day"
    # The day, `YYYY-MM-DD` (UTC).
    date: str
    currency: str
    count: int
    # The sum of `amount_received`, in minor units.
    amount: int


class PaymentVolume(BaseModel):
    object: Literal["payment_volume"] = "payment_volume"
    days: int
    # Unix seconds: the start (UTC midnight) of the first day covered.
    since: int
    livemode: bool
    # One row per day and currency that had succeeded payments, oldest day first.
    data: list[VolumeDay]


class RefundFilters(BaseModel):
    model_config = ConfigDict(extra="ignore")

    payment_intent: str | None = None


class Refund(BaseModel):
    id: str
    object: Literal["refund"] = "refund"
    payment_intent: Expandable
    amount: int
    currency: str
    status: Literal["pending", "succeeded", "failed"]
    reason: str | None
    # Why it failed (Stripe's values: declined, insufficient_funds, expired_or_canceled_card,
    # merchant_request, unknown); null unless failed.
    failure_reason: str | None = None
    metadata: dict[str, Any]
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
    description: Description | None = None
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


class LedgerOutboxSummary(BaseModel):
    """The postings payments owes the ledger, across every tenant (platform admins)."""

    object: Literal["ledger_outbox.summary"] = "ledger_outbox.summary"
    pending: int = Field(description="Postings not taken yet, still being tried.", examples=[0])
    failed: int = Field(
        description="Postings the ledger refused, never sent again, waiting for an operator.",
        examples=[0],
    )
    oldest_pending_seconds: float | None = Field(
        description="How long the oldest pending posting has waited; null when none waits.",
        examples=[None],
    )


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


# -- customers and their payment methods -------------------------------------------------------


class CustomerRequest(_Request):
    email: Annotated[str, Field(max_length=512)] | None = None
    name: Annotated[str, Field(max_length=256)] | None = None
    description: Description | None = None
    phone: Annotated[str, Field(max_length=20)] | None = None
    metadata: Metadata = Field(default_factory=dict)
    expand: Expand = Field(default_factory=list)


class UpdateCustomerRequest(_Request):
    """Only the fields sent change; `metadata` is merged (a key set to "" is removed)."""

    email: Annotated[str, Field(max_length=512)] | None = None
    name: Annotated[str, Field(max_length=256)] | None = None
    description: Description | None = None
    phone: Annotated[str, Field(max_length=20)] | None = None
    metadata: Annotated[dict[str, ShortText], Field(max_length=50)] | None = None
    expand: Expand = Field(default_factory=list)


class CustomerFilters(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email: Annotated[str, Field(max_length=512)] | None = None


class InvoiceSettings(BaseModel):
    custom_fields: None = None
    default_payment_method: None = None
    footer: None = None
    rendering_options: None = None


class Customer(BaseModel):
    id: str
    object: Literal["customer"] = "customer"
    address: None = None
    balance: int = 0
    created: int
    currency: None = None
    default_source: None = None
    delinquent: bool = False
    description: str | None
    discount: None = None
    email: str | None
    invoice_settings: InvoiceSettings = Field(default_factory=InvoiceSettings)
    livemode: bool
    metadata: dict[str, Any]
    name: str | None
    phone: str | None
    preferred_locales: list[str] = Field(default_factory=list)
    shipping: None = None
    tax_exempt: Literal["none"] = "none"

    @classmethod
    def from_row(cls, row: CustomerRow) -> Customer:
        return cls.model_validate({**_columns(row), "created": unix(row.created_at)})


class DeletedCustomer(BaseModel):
    """What a deleted customer answers, by its id, ever after (as Stripe's)."""

    id: str
    object: Literal["customer"] = "customer"
    deleted: Literal[True] = True


class RetrievedCustomer(RootModel[Customer | DeletedCustomer]):
    """What retrieving a customer answers: the customer, or the stub a deleted one leaves."""


class AttachRequest(_Request):
    customer: CustomerId
    expand: Expand = Field(default_factory=list)


class DetachRequest(_Request):
    expand: Expand = Field(default_factory=list)


class PaymentMethodFilters(BaseModel):
    model_config = ConfigDict(extra="ignore")

    customer: CustomerId | None = None
    type: Annotated[str, Field(pattern=r"^[a-z_]{1,50}$")] | None = None


class Card(BaseModel):
    brand: str
    country: str
    exp_month: int
    exp_year: int
    funding: str
    last4: str


class BillingDetails(BaseModel):
    address: None = None
    email: None = None
    name: None = None
    phone: None = None


class PaymentMethod(BaseModel):
    """A test method (`pm_card_visa`: its id is its name) or one attached to a customer."""

    id: str
    object: Literal["payment_method"] = "payment_method"
    type: Literal["card"] = "card"
    card: Card
    billing_details: BillingDetails = Field(default_factory=BillingDetails)
    customer: Expandable
    metadata: dict[str, Any] = Field(default_factory=dict)
    livemode: bool
    created: int

    @classmethod
    def of_test_method(cls, method: str, *, livemode: bool, created: int) -> PaymentMethod:
        card = card_of(method)
        return cls(
            id=method,
            card=Card(
                brand=card.brand, country=card.country, exp_month=card.exp_month,
                exp_year=card.exp_year, funding=card.funding, last4=card.last4,
            ),
            customer=None,
            livemode=livemode,
            created=created,
        )  # fmt: skip

    @classmethod
    def from_row(cls, row: PaymentMethodRow) -> PaymentMethod:
        made = cls.of_test_method(row.card_of, livemode=row.livemode, created=unix(row.created_at))
        return made.model_copy(update={"id": row.id, "customer": row.customer_id})


class ChargeOutcome(BaseModel):
    network_status: Literal["approved_by_network", "declined_by_network"] | None
    reason: str | None
    risk_level: Literal["normal"] = "normal"
    seller_message: str
    type: Literal["authorized", "issuer_declined", "manual_review"]


class Charge(BaseModel):
    """The latest attempt of a payment intent, shown as Stripe's charge (`expand[]=
    latest_charge`); charges are not a resource of their own here."""

    id: str
    object: Literal["charge"] = "charge"
    amount: int
    amount_captured: int
    amount_refunded: int
    captured: bool
    currency: str
    customer: str | None
    failure_code: str | None
    failure_message: str | None
    livemode: bool
    metadata: dict[str, Any]
    outcome: ChargeOutcome | None
    paid: bool
    payment_intent: str
    payment_method: str | None
    payment_method_details: dict[str, Any] | None
    refunded: bool
    status: Literal["succeeded", "pending", "failed"]
    created: int


# -- provider routes and payment attempts (failover, issue #16) --------------------------------


class RouteRequest(_Request):
    """The providers a currency's payments go to, in the order they are tried."""

    # Each provider once (the service says so in a 400 invalid_route; the document too).
    providers: Annotated[
        list[Literal["paystack", "flutterwave"]],
        Field(min_length=1, max_length=3, json_schema_extra={"uniqueItems": True}),
    ] = Field(examples=[["paystack", "flutterwave"]])


class ProviderRoute(BaseModel):
    object: Literal["provider_route"] = "provider_route"
    currency: str = Field(examples=["ngn"])
    providers: list[str] = Field(examples=[["paystack", "flutterwave"]])
    # "tenant": set with PUT /payments/routing/{currency}; "platform": the platform's default.
    source: Literal["tenant", "platform"]
    livemode: bool
    updated: int | None


class DeletedRoute(BaseModel):
    object: Literal["provider_route"] = "provider_route"
    currency: str = Field(examples=["ngn"])
    deleted: Literal[True] = True


AttemptStatus = Literal["pending", "requires_action", "succeeded", "failed", "canceled"]


class PaymentAttempt(BaseModel):
    """One time a PaymentIntent was sent to a provider; `id` is the `ch_` its
    `latest_charge` showed while this attempt was the latest."""

    id: str
    object: Literal["payment_attempt"] = "payment_attempt"
    payment_intent: str
    number: int
    provider: str
    provider_reference: str
    status: AttemptStatus
    error_code: str | None
    error_message: str | None
    livemode: bool
    created: int
    updated: int

    @classmethod
    def from_row(cls, row: AttemptRow) -> PaymentAttempt:
        return cls.model_validate(
            {
                **_columns(row),
                "payment_intent": row.intent_id,
                "created": unix(row.created_at),
                "updated": unix(row.updated_at),
            }
        )
