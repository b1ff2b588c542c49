"""What payments accepts in a request body, and how a stored row is shown (schemas.py).
Pure: pydantic models, no server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from services.payments.repository.intents import IntentRow
from services.payments.repository.payouts import PayoutRow
from services.payments.repository.refunds import RefundRow
from services.payments.schemas import (
    CancelIntentRequest,
    CaptureIntentRequest,
    ConfirmIntentRequest,
    CreateIntentRequest,
    CredentialsRequest,
    PaymentIntent,
    Payout,
    PayoutRequest,
    Refund,
    RefundRequest,
    UpdateIntentRequest,
)

BANK = {"account_number": "0123456789", "bank_code": "058"}
CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def refused(model: type[BaseModel], body: dict[str, Any]) -> list[str]:
    """The fields a body is refused for (empty: accepted)."""
    try:
        model.model_validate(body)
    except ValidationError as error:
        return sorted(".".join(str(part) for part in e["loc"]) for e in error.errors())
    return []


class TestAmounts:
    @pytest.mark.parametrize("amount", [1, 5000, 99_999_999])
    def test_whole_minor_units_up_to_eight_digits(self, amount: int) -> None:
        assert refused(CreateIntentRequest, {"amount": amount, "currency": "usd"}) == []

    @pytest.mark.parametrize("amount", [0, -1, 100_000_000, 10.5, 100.0, True, None])
    def test_anything_else_is_refused(self, amount: Any) -> None:
        assert refused(CreateIntentRequest, {"amount": amount, "currency": "usd"}) == ["amount"]

    @pytest.mark.parametrize(
        ("model", "field", "extra"),
        [
            (PayoutRequest, "amount", {"currency": "ngn", "destination": BANK}),
            (RefundRequest, "amount", {"payment_intent": "pi_1"}),
            (CaptureIntentRequest, "amount_to_capture", {}),
            (UpdateIntentRequest, "amount", {}),
        ],
    )
    @pytest.mark.parametrize("amount", [0, -5, 2.5])
    def test_every_amount_field_refuses_what_is_not_money(
        self, model: type[BaseModel], field: str, extra: dict[str, Any], amount: Any
    ) -> None:
        assert refused(model, {field: amount, **extra}) == [field]


class TestCreateIntent:
    def test_the_defaults(self) -> None:
        body = CreateIntentRequest.model_validate({"amount": 100, "currency": "USD"})
        assert (body.currency, body.provider, body.capture_method, body.confirm) == (
            "usd",
            "simulator",
            "automatic",
            False,
        )
        assert body.metadata == {}

    @pytest.mark.parametrize("currency", ["xxx", "us", "", 840])
    def test_an_unknown_currency_is_refused(self, currency: Any) -> None:
        assert refused(CreateIntentRequest, {"amount": 1, "currency": currency}) == ["currency"]

    def test_an_unknown_field_is_refused(self) -> None:
        assert refused(CreateIntentRequest, {"amount": 1, "currency": "usd", "colour": "red"}) == [
            "colour"
        ]

    @pytest.mark.parametrize(
        ("method", "stored"),
        [("pm_card_visa", "pm_card_visa"), ("4242 4242 4242 4242", "pm_card_visa")],
    )
    def test_a_test_card_number_becomes_its_method(self, method: str, stored: str) -> None:
        body = {"amount": 1, "currency": "usd", "payment_method": method}
        assert CreateIntentRequest.model_validate(body).payment_method == stored

    def test_an_unknown_payment_method_is_refused(self) -> None:
        body = {"amount": 1, "currency": "usd", "payment_method": "pm_card_nope"}
        assert refused(CreateIntentRequest, body) == ["payment_method"]

    def test_metadata_holds_at_most_fifty_keys(self) -> None:
        many = {f"k{i}": "v" for i in range(51)}
        assert refused(CreateIntentRequest, {"amount": 1, "currency": "usd", "metadata": many})
        fifty = {f"k{i}": "v" for i in range(50)}
        assert not refused(CreateIntentRequest, {"amount": 1, "currency": "usd", "metadata": fifty})

    @pytest.mark.parametrize(
        ("url", "ok"),
        [
            ("https://shop.example/done", True),
            ("http://localhost:3000/x?y=1", True),
            ("ftp://shop.example/done", False),
            ("https://shop example/done", False),
            ("https://" + "a" * 2000, False),
        ],
    )
    def test_return_urls_are_http_and_bounded(self, url: str, ok: bool) -> None:
        body = {"amount": 1, "currency": "usd", "return_url": url}
        assert refused(CreateIntentRequest, body) == ([] if ok else ["return_url"])

    @pytest.mark.parametrize(("wallet", "ok"), [("wal_1", True), ("a.b:c-d_e", True), ("", False)])
    def test_wallet_ids(self, wallet: str, ok: bool) -> None:
        body = {"amount": 1, "currency": "usd", "wallet_id": wallet}
        assert refused(CreateIntentRequest, body) == ([] if ok else ["wallet_id"])

    def test_codes_are_stripped_and_free_text_is_kept(self) -> None:
        # A description is the client's own text (shared/text.py); codes and ids are not.
        body = {"amount": 1, "currency": " usd ", "description": "  Order 7  "}
        parsed = CreateIntentRequest.model_validate(body)
        assert (parsed.currency, parsed.description) == ("usd", "  Order 7  ")


class TestOtherBodies:
    @pytest.mark.parametrize(
        ("reason", "ok"),
        [("requested_by_customer", True), ("abandoned", True), ("bored", False)],
    )
    def test_cancellation_reasons(self, reason: str, ok: bool) -> None:
        body = {"cancellation_reason": reason}
        assert refused(CancelIntentRequest, body) == ([] if ok else ["cancellation_reason"])

    def test_an_empty_confirm_is_fine(self) -> None:
        assert refused(ConfirmIntentRequest, {}) == []

    @pytest.mark.parametrize(
        ("destination", "field"),
        [
            ({"account_number": "012345678", "bank_code": "058"}, "destination.account_number"),
            ({"account_number": "01234567890", "bank_code": "058"}, "destination.account_number"),
            ({"account_number": "0123456789", "bank_code": "05"}, "destination.bank_code"),
            ({"account_number": "0123456789"}, "destination.bank_code"),
        ],
    )
    def test_a_payout_destination_is_a_ten_digit_account_at_a_bank(
        self, destination: dict[str, Any], field: str
    ) -> None:
        body = {"amount": 100, "currency": "ngn", "destination": destination}
        assert refused(PayoutRequest, body) == [field]

    @pytest.mark.parametrize(
        ("reason", "ok"), [("duplicate", True), ("fraudulent", True), ("abandoned", False)]
    )
    def test_refund_reasons(self, reason: str, ok: bool) -> None:
        body = {"payment_intent": "pi_1", "reason": reason}
        assert refused(RefundRequest, body) == ([] if ok else ["reason"])

    @pytest.mark.parametrize(
        ("body", "fields"),
        [
            ({"secret_key": "sk_test_12345678"}, []),
            ({"secret_key": "short"}, ["secret_key"]),
            ({"secret_key": "sk_test with space"}, ["secret_key"]),
            ({"secret_key": "sk_test_12345678", "webhook_secret": "1234"}, ["webhook_secret"]),
        ],
    )
    def test_credentials(self, body: dict[str, Any], fields: list[str]) -> None:
        assert refused(CredentialsRequest, body) == fields


class TestShown:
    def test_an_intent_row_is_shown_as_stripe_does(self) -> None:
        row = IntentRow(
            id="pi_1", tenant_id="ten_1", livemode=False, amount=5000, amount_capturable=0,
            amount_received=5000, currency="usd", status="succeeded",
            capture_method="automatic", provider="simulator", payment_method="pm_card_visa",
            description=None, metadata={"order": "7"}, receipt_email=None, wallet_id=None,
            last_payment_error=None, next_action=None, cancellation_reason=None,
            canceled_at=None, created_at=CREATED, provider_account="platform", attempts=1,
            customer_id="cus_1", latest_charge="ch_1",
        )  # fmt: skip
        shown = PaymentIntent.from_row(row).model_dump()
        assert shown["object"] == "payment_intent"
        assert shown["created"] == int(CREATED.timestamp())
        assert shown["canceled_at"] is None
        assert shown["metadata"] == {"order": "7"}
        # Stripe's names: the customer as `customer`, the latest attempt as `latest_charge`.
        assert (shown["customer"], shown["latest_charge"]) == ("cus_1", "ch_1")
        # What stays with us.
        assert not {"tenant_id", "provider_account", "attempts", "created_at", "customer_id"} & set(
            shown
        )

    def test_a_payout_shows_only_the_last_four_digits(self) -> None:
        row = PayoutRow(
            id="po_1", tenant_id="ten_1", livemode=False, amount=100, currency="ngn",
            status="paid", provider="simulator",
            destination={"account_number": "0123456789", "bank_code": "058"},
            description=None, metadata={}, failure_code=None, failure_message=None,
            created_at=CREATED, provider_account="platform", provider_transfer_id=None,
            wallet_id=None,
        )  # fmt: skip
        shown = Payout.from_row(row)
        assert shown.destination == {"account_number": "******6789", "bank_code": "058"}
        assert row.destination["account_number"] == "0123456789"  # the row is left alone

    def test_a_refund_names_its_payment(self) -> None:
        row = RefundRow(
            id="re_1", tenant_id="ten_1", livemode=True, payment_intent_id="pi_1", amount=10,
            currency="usd", status="succeeded", reason=None, metadata={"k": "v"},
            created_at=CREATED, provider="paystack", provider_refund_id="3018284",
            failure_reason=None, updated_at=CREATED,
        )  # fmt: skip
        assert Refund.from_row(row).model_dump() == {
            "id": "re_1", "object": "refund", "payment_intent": "pi_1", "amount": 10,
            "currency": "usd", "status": "succeeded", "reason": None, "failure_reason": None,
            "metadata": {"k": "v"}, "livemode": True,
            "created": int(CREATED.timestamp()),
        }  # fmt: skip
