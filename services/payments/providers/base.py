"""The one interface every provider speaks, and what it answers.

A provider never raises for a business answer (a decline is an `Outcome`). A call that does
not come back in time is answered `pending`: the money may or may not have moved, so the
intent, payout or refund waits, and `verify`/`verify_transfer`/`verify_refund` ask again
later (by our own reference, never by starting again, so asking twice can never charge
twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a provider said about one attempt to take money."""

    kind: Literal["authorized", "declined", "action_required", "pending"]
    decline_code: str | None = None
    message: str | None = None
    # Absolute for a hosted page; the simulator's own page is a path on the gateway.
    redirect_url: str | None = None
    # What the provider says it took (minor units), when it says so: checked against the
    # intent before money is counted.
    amount: int | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class TransferOutcome:
    """What a provider said about sending money to a bank account."""

    kind: Literal["paid", "failed", "pending"]
    failure_code: str | None = None
    failure_message: str | None = None
    # The provider's own id for the transfer, when its verify call needs it.
    provider_id: str | None = None
    # A transfer that was paid and then came back (Paystack's transfer.reversed).
    reversed: bool = False


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    """What a provider said about giving a payment's money back (Stripe's statuses)."""

    kind: Literal["succeeded", "failed", "pending"]
    # The provider's own id for the refund, once it named one (its webhooks carry it).
    provider_id: str | None = None
    # Stripe's values: declined, insufficient_funds, expired_or_canceled_card,
    # merchant_request, unknown.
    failure_reason: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Payer:
    """What a hosted page needs about the customer and where to send them afterwards."""

    email: str | None
    return_url: str


@dataclass(frozen=True, slots=True)
class BankAccount:
    account_number: str
    bank_code: str
    account_name: str | None = None


# -- settlement (issue #16): what a provider lists for a period ---------------------------------

SettledKind = Literal["charge", "refund", "transfer"]
# Every provider's words, in three: the money moved, it did not and will not, not yet.
SettledStatus = Literal["succeeded", "failed", "pending"]


@dataclass(frozen=True, slots=True)
class Settled:
    """One transaction, refund or transfer as a provider lists it, in Micro's terms.

    `reference` is what the provider echoes of ours: an attempt reference for a charge, a
    payout id for a transfer; for a refund, the charge's reference (None when the provider
    names only its own transaction id). `provider_id` is the provider's own id (a refund is
    matched by it first). `amount` is None when the provider wrote no whole number of minor
    units (reported as a mismatch, never rounded)."""

    kind: SettledKind
    reference: str | None
    provider_id: str | None
    amount: int | None
    currency: str | None
    status: SettledStatus
    created: datetime | None = None


def attempt_reference(intent_id: str, attempt: int) -> str:
    """The provider-side reference of an intent's n-th hosted attempt. A provider never
    takes one reference twice, so a retry after a decline needs a new one; the first is the
    intent id itself."""
    return intent_id if attempt <= 1 else f"{intent_id}-{attempt}"


def intent_of(reference: str) -> str:
    """The intent a provider reference belongs to (ids never contain '-')."""
    return reference.partition("-")[0]


class Provider(Protocol):
    name: str
    # True when the customer pays on the provider's page (no payment method is sent).
    hosted: bool
    # True when its answers are computed in this process, with no I/O (the simulator): it
    # may be asked inside a transaction. Every other provider is called with no database
    # connection held, between a claim and its outcome (see `service/steps.py`).
    in_process: bool

    async def authorize(
        self, *, reference: str, amount: int, currency: str, payment_method: str | None,
        payer: Payer,
    ) -> Outcome: ...  # fmt: skip

    async def verify(self, *, reference: str, amount: int, currency: str) -> Outcome: ...

    async def transfer(
        self, *, payout_id: str, amount: int, currency: str, destination: BankAccount,
        description: str | None,
    ) -> TransferOutcome: ...  # fmt: skip

    async def verify_transfer(
        self, *, payout_id: str, provider_id: str | None
    ) -> TransferOutcome: ...

    # -- refunds (issue #16) ----------------------------------------------------------------

    async def refund(
        self, *, refund_id: str, reference: str, amount: int, currency: str
    ) -> RefundOutcome:
        """Give back `amount` of the payment made under `reference` (our attempt's
        reference). A refusal is a `failed` outcome; no answer in time is `pending` (the
        refund may exist: it is verified later, never asked for again)."""
        ...

    async def verify_refund(
        self, *, refund_id: str, reference: str, provider_id: str | None
    ) -> RefundOutcome:
        """How a refund asked for earlier stands (`pending` while unknown)."""
        ...

    async def list_settled(self, *, start: datetime, end: datetime) -> list[Settled]:
        """Every charge, refund and transfer the provider records from `start` to `end`
        (all pages; the caller holds no transaction unless the provider is in-process)."""
        ...
