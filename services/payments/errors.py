"""Payments errors; all are subclasses of the shared tree in `shared.errors`."""

from __future__ import annotations

from shared.errors import NotFoundError


class PaymentIntentNotFoundError(NotFoundError):
    def __init__(self, intent_id: str) -> None:
        super().__init__(f"No such payment_intent: {intent_id!r}.", param="id")
