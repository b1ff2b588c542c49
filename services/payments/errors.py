"""Payments errors; all are subclasses of the shared tree in `shared.errors`.

NotFoundError (404)          PaymentIntentNotFoundError, CustomerNotFoundError,
                             PaymentMethodNotFoundError
InvalidRequestError (400)    UnexpectedStateError (payment_intent_unexpected_state),
                             NoSuchReferenceError (resource_missing: an id named in a body),
                             PaymentMethodUnusableError (payment_method_invalid_parameter),
                             ExpansionError (parameter_invalid, param expand)
CardError (402)              CardDeclinedError (card_declined, with decline_code)
"""

from __future__ import annotations

from typing import Any

from shared.errors import CardError, InvalidRequestError, NotFoundError


class PaymentIntentNotFoundError(NotFoundError):
    def __init__(self, intent_id: str) -> None:
        super().__init__(f"No such payment_intent: {intent_id!r}.", param="id")


class CustomerNotFoundError(NotFoundError):
    def __init__(self, customer_id: str) -> None:
        super().__init__(f"No such customer: {customer_id!r}.", param="id")


class PaymentMethodNotFoundError(NotFoundError):
    def __init__(self, method_id: str) -> None:
        super().__init__(f"No such PaymentMethod: {method_id!r}.", param="id")


class NoSuchReferenceError(InvalidRequestError):
    """A body names an object that is not there (in this tenant and mode): 400, as Stripe
    answers a bad `customer` on an intent, not 404 (the URL itself was found)."""

    def __init__(self, kind: str, object_id: str, *, param: str) -> None:
        super().__init__(f"No such {kind}: {object_id!r}.", code="resource_missing", param=param)


class PaymentMethodUnusableError(InvalidRequestError):
    def __init__(self, message: str, *, param: str = "payment_method") -> None:
        super().__init__(message, code="payment_method_invalid_parameter", param=param)


class ExpansionError(InvalidRequestError):
    def __init__(self, field: str) -> None:
        super().__init__(
            f"This property cannot be expanded ({field}).", code="parameter_invalid",
            param="expand",
        )  # fmt: skip


class UnexpectedStateError(InvalidRequestError):
    def __init__(self, intent_id: str, status: str, action: str) -> None:
        super().__init__(
            f"You cannot {action} this PaymentIntent because it has a status of {status}.",
            code="payment_intent_unexpected_state",
            extra={"payment_intent": {"id": intent_id, "status": status}},
        )


class CardDeclinedError(CardError):
    """Stripe's card error: the decline, the charge that was declined, the whole intent
    (the SDKs build `error.payment_intent` from it) and the method charged."""

    def __init__(
        self,
        message: str,
        *,
        decline_code: str,
        intent: dict[str, Any],
        charge: str | None = None,
        payment_method: dict[str, Any] | None = None,
    ) -> None:
        extra: dict[str, Any] = {"decline_code": decline_code, "payment_intent": intent}
        if charge is not None:
            extra["charge"] = charge
        if payment_method is not None:
            extra["payment_method"] = payment_method
        super().__init__(message, code="card_declined", param="payment_method", extra=extra)
