"""The one interface every provider speaks, and what it answers.

A provider never raises for a business answer (a decline is an `Outcome`). A call that does
not come back in time is answered `pending`: the money may or may not have moved, so the
intent or payout waits, and `verify`/`verify_transfer` ask again later (by our own
reference, never by starting again, so asking twice can never charge twice).
"""

from __future__ import annotations

from dataclasses import dataclass
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
class Payer:
    """What a hosted page needs about the customer and where to send them afterwards."""

    email: str | None
    return_url: str


@dataclass(frozen=True, slots=True)
class BankAccount:
    account_number: str
    bank_code: str
    account_name: str | None = None


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
