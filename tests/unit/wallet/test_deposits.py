"""A deposit's pure rules: the payment intent it asks for, when an intent has failed, and how
a failed deposit is answered."""

from __future__ import annotations

from typing import Any

import pytest

from services.wallet.errors import DepositDeclinedError
from services.wallet.schemas import WalletOperation
from services.wallet.service.deposits import intent_failure, intent_request, raise_failure
from shared.errors import InvalidRequestError
from tests.support.wallet_rows import operation_row


def test_the_intent_is_confirmed_at_once_for_the_wallet_and_names_the_operation() -> None:
    assert intent_request(operation_row()) == {
        "amount": 500, "currency": "usd", "wallet_id": "wal_1", "provider": "simulator",
        "confirm": True, "description": "Wallet deposit wop_1",
        "metadata": {"wallet_operation": "wop_1"}, "payment_method": "pm_card_visa",
    }  # fmt: skip


def test_without_a_method_the_intent_waits_for_the_customer() -> None:
    request = intent_request(operation_row(payment_method=None, description="top-up"))
    assert "payment_method" not in request
    assert request["description"] == "top-up"


@pytest.mark.parametrize(
    ("intent", "failure"),
    [
        ({"status": "canceled"}, ("payment_intent_canceled", "The payment was canceled.")),
        (
            {"status": "canceled", "last_payment_error": {"code": "expired", "message": "Late."}},
            ("expired", "Late."),
        ),
        (
            {
                "status": "requires_payment_method",
                "last_payment_error": {"code": "card_declined", "message": "Declined."},
            },
            ("card_declined", "Declined."),
        ),
        ({"status": "requires_payment_method"}, None),
        ({"status": "requires_action"}, None),
        ({"status": "processing"}, None),
        ({"status": "succeeded"}, None),
    ],
)
def test_an_intent_has_failed_only_when_it_ended_without_the_money(
    intent: dict[str, Any], failure: tuple[str, str] | None
) -> None:
    assert intent_failure(intent) == failure


def test_a_declined_card_is_a_402_card_error_with_the_operation() -> None:
    row = operation_row(status="failed", failure_code="card_declined", failure_message=None)
    operation = WalletOperation.from_row(row)
    with pytest.raises(DepositDeclinedError) as caught:
        raise_failure(row, operation)
    assert (caught.value.status_code, caught.value.code) == (402, "card_declined")
    assert caught.value.message == "The deposit failed."
    assert caught.value.extra["operation"] == operation.model_dump()


@pytest.mark.parametrize(
    ("code", "answered"), [("provider_not_configured", "provider_not_configured"),
                           (None, "deposit_failed")]
)  # fmt: skip
def test_any_other_failure_is_a_400_with_payments_code(code: str | None, answered: str) -> None:
    row = operation_row(status="failed", failure_code=code, failure_message="No.")
    with pytest.raises(InvalidRequestError) as caught:
        raise_failure(row, WalletOperation.from_row(row))
    assert (caught.value.status_code, caught.value.code, caught.value.message) == (
        400, answered, "No.",
    )  # fmt: skip
