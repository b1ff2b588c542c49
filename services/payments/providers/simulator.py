"""The built-in simulator: outcomes chosen by Stripe's test payment methods.

Given a journal (`repository/simulator_journal.py`), it writes down each charge, refund and
payout as it answers, as a real provider keeps its own records; `list_settled` reads that book back
for a reconciliation, so a local stack reconciles against a second witness, not itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.payments.providers.base import (
    BankAccount,
    Outcome,
    Payer,
    RefundOutcome,
    Settled,
    SettledKind,
    SettledStatus,
    TransferOutcome,
)

_DECLINES: dict[str, tuple[str, str]] = {
    "pm_card_chargeDeclined": ("generic_decline", "Your card was declined."),
    "pm_card_visa_chargeDeclinedInsufficientFunds": (
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", "Your card has expired."),
    "pm_card_chargeDeclinedIncorrectCvc": (
        "incorrect_cvc",
        "Your card's security code is incorrect.",
    ),
    "pm_card_chargeDeclinedFraudulent": ("fraudulent", "Your card was declined."),
}
_APPROVED = frozenset({"pm_card_visa", "pm_card_mastercard", "pm_card_amex", "pm_card_us"})
_ACTION = frozenset({"pm_card_authenticationRequired", "pm_card_threeDSecure2Required"})

KNOWN_METHODS = frozenset({*_DECLINES, *_APPROVED, *_ACTION})
# Stripe's published test card numbers, each as the test method it stands for (the number
# itself is never stored).
TEST_CARDS: dict[str, str] = {
    "4242424242424242": "pm_card_visa",
    "4000056655665556": "pm_card_visa",
    "5555555555554444": "pm_card_mastercard",
    "378282246310005": "pm_card_amex",
    "4000000000000002": "pm_card_chargeDeclined",
    "4000000000009995": "pm_card_visa_chargeDeclinedInsufficientFunds",
    "4000000000000069": "pm_card_chargeDeclinedExpiredCard",
    "4000000000000127": "pm_card_chargeDeclinedIncorrectCvc",
    "4100000000000019": "pm_card_chargeDeclinedFraudulent",
    "4000002500003155": "pm_card_authenticationRequired",
    "4000000000003220": "pm_card_threeDSecure2Required",
}


def simulated_method(value: str) -> str | None:
    """The test method a payment method or test card number names; None if neither."""
    if value in KNOWN_METHODS:
        return value
    return TEST_CARDS.get(value.replace(" ", "").replace("-", ""))


# Test bank accounts, in the spirit of Stripe's test bank numbers.
FAILING_ACCOUNT = "0000000000"  # the bank refuses: account_closed
SLOW_ACCOUNT = "1111111111"  # stays pending until the provider reports back


class Journal(Protocol):
    """Where the simulator writes down what it did (`SimulatorJournal`)."""

    async def record(
        self, kind: str, reference: str, *, amount: int, currency: str, status: str,
        charge: str | None = None,
    ) -> None: ...  # fmt: skip

    async def between(self, start: datetime, end: datetime) -> Sequence[_Entry]: ...


class _Entry(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def reference(self) -> str: ...
    @property
    def charge(self) -> str | None: ...
    @property
    def amount(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


_KINDS: dict[str, SettledKind] = {"charge": "charge", "refund": "refund", "transfer": "transfer"}
_STATES: dict[str, SettledStatus] = {"succeeded": "succeeded", "failed": "failed"}


class Simulator:
    name = "simulator"
    hosted = False
    in_process = True

    def __init__(self, journal: Journal | None = None) -> None:
        self.journal = journal

    async def _note(
        self, kind: str, reference: str, amount: int, currency: str, status: str,
        charge: str | None = None,
    ) -> None:  # fmt: skip
        if self.journal is not None:
            await self.journal.record(
                kind, reference, amount=amount, currency=currency, status=status, charge=charge
            )

    async def authorize(
        self, *, reference: str, amount: int, currency: str, payment_method: str | None,
        payer: Payer,
    ) -> Outcome:  # fmt: skip
        if payment_method in _DECLINES:
            code, message = _DECLINES[payment_method]
            await self._note("charge", reference, amount, currency, "failed")
            return Outcome("declined", decline_code=code, message=message)
        if payment_method in _ACTION:
            await self._note("charge", reference, amount, currency, "pending")
            return Outcome(
                "action_required",
                redirect_url=f"/webhooks/simulator/authenticate/{reference}",
            )
        await self._note("charge", reference, amount, currency, "succeeded")
        return Outcome("authorized", amount=amount, currency=currency)

    async def verify(self, *, reference: str, amount: int, currency: str) -> Outcome:
        # The simulator answers at once and keeps nothing: it never leaves work to re-check.
        return Outcome("pending")

    async def transfer(
        self, *, payout_id: str, amount: int, currency: str, destination: BankAccount,
        description: str | None,
    ) -> TransferOutcome:  # fmt: skip
        if destination.account_number == FAILING_ACCOUNT:
            await self._note("transfer", payout_id, amount, currency, "failed")
            return TransferOutcome(
                "failed",
                failure_code="account_closed",
                failure_message="The bank account has been closed.",
            )
        if destination.account_number == SLOW_ACCOUNT:
            await self._note("transfer", payout_id, amount, currency, "pending")
            return TransferOutcome("pending")
        await self._note("transfer", payout_id, amount, currency, "succeeded")
        return TransferOutcome("paid")

    async def verify_transfer(self, *, payout_id: str, provider_id: str | None) -> TransferOutcome:
        return TransferOutcome("pending")

    async def refund(
        self, *, refund_id: str, reference: str, amount: int, currency: str
    ) -> RefundOutcome:
        # The simulator's money goes back at once (and into its book, with the charge).
        await self._note("refund", refund_id, amount, currency, "succeeded", charge=reference)
        return RefundOutcome("succeeded", provider_id=None)

    async def verify_refund(
        self, *, refund_id: str, reference: str, provider_id: str | None
    ) -> RefundOutcome:
        return RefundOutcome("pending")

    async def list_settled(self, *, start: datetime, end: datetime) -> list[Settled]:
        if self.journal is None:
            return []
        # A refund is listed as a provider lists one: the charge's reference, its own id.
        return [
            Settled(
                _KINDS.get(entry.kind, "charge"),
                entry.charge if entry.kind == "refund" else entry.reference,
                entry.reference if entry.kind == "refund" else None,
                entry.amount,
                entry.currency,
                _STATES.get(entry.status, "pending"),
                entry.created_at,
            )
            for entry in await self.journal.between(start, end)
        ]


@dataclass(frozen=True, slots=True)
class SimulatedCard:
    """The card a test method stands for, as a payment method shows it."""

    brand: str
    last4: str
    funding: str = "credit"
    country: str = "US"
    exp_month: int = 12
    exp_year: int = 2034


_BRANDS = {"4": "visa", "5": "mastercard", "3": "amex"}
# A test method with no published number of its own.
_DEFAULT_NUMBER = {"pm_card_us": "4242424242424242", "pm_card_amex": "378282246318431"}


def card_of(method: str) -> SimulatedCard:
    """The card of a known test method (`KNOWN_METHODS`)."""
    number = _DEFAULT_NUMBER.get(method) or next(
        number for number, named in TEST_CARDS.items() if named == method
    )
    return SimulatedCard(brand=_BRANDS[number[0]], last4=number[-4:])
