"""The built-in simulator: outcomes chosen by Stripe's test payment methods."""

from __future__ import annotations

from services.payments.providers.base import BankAccount, Outcome, Payer, TransferOutcome

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


class Simulator:
    name = "simulator"
    hosted = False
    in_process = True

    async def authorize(
        self, *, reference: str, amount: int, currency: str, payment_method: str | None,
        payer: Payer,
    ) -> Outcome:  # fmt: skip
        if payment_method in _DECLINES:
            code, message = _DECLINES[payment_method]
            return Outcome("declined", decline_code=code, message=message)
        if payment_method in _ACTION:
            return Outcome(
                "action_required",
                redirect_url=f"/webhooks/simulator/authenticate/{reference}",
            )
        return Outcome("authorized", amount=amount, currency=currency)

    async def verify(self, *, reference: str, amount: int, currency: str) -> Outcome:
        # The simulator answers at once and keeps nothing: it never leaves work to re-check.
        return Outcome("pending")

    async def transfer(
        self, *, payout_id: str, amount: int, currency: str, destination: BankAccount,
        description: str | None,
    ) -> TransferOutcome:  # fmt: skip
        if destination.account_number == FAILING_ACCOUNT:
            return TransferOutcome(
                "failed",
                failure_code="account_closed",
                failure_message="The bank account has been closed.",
            )
        if destination.account_number == SLOW_ACCOUNT:
            return TransferOutcome("pending")
        return TransferOutcome("paid")

    async def verify_transfer(self, *, payout_id: str, provider_id: str | None) -> TransferOutcome:
        return TransferOutcome("pending")
