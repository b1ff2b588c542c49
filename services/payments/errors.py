"""Payments errors; all are subclasses of the shared tree in `shared.errors`.

NotFoundError (404)          PaymentIntentNotFoundError
InvalidRequestError (400)    UnexpectedStateError (payment_intent_unexpected_state)
CardError (402)              CardDeclinedError (card_declined, with decline_code)
"""

from __future__ import annotations

from typing import Any

from shared.errors import CardError, InvalidRequestError, NotFoundError


class PaymentIntentNotFoundError(NotFoundError):
    def __init__(self, intent_id: str) -> None:
        super().__init__(f"No such payment_intent: {intent_id!r}.", param="id")


class UnexpectedStateError(InvalidRequestError):
    def __init__(self, intent_id: str, status: str, action: str) -> None:
        super().__init__(
            f"You cannot {action} this PaymentIntent because it has a status of {status}.",
            code="payment_intent_unexpected_state",
            extra={"payment_intent": {"id": intent_id, "status": status}},
        )


class CardDeclinedError(CardError):
    def __init__(self, message: str, *, decline_code: str, intent: dict[str, Any]) -> None:
        super().__init__(
            message,
            code="card_declined",
            param="payment_method",
            extra={"decline_code": decline_code, "payment_intent": intent},
        )
