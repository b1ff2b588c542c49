"""What a provider's webhook body says, and whose signature it carries
(service/webhooks.py `parse_event`, `signed_by`). Pure: no server, no database."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from services.payments.providers.base import Outcome, TransferOutcome
from services.payments.service.provider_accounts import Account
from services.payments.service.webhooks import parse_event, signed_by
from shared.errors import AuthenticationError, InvalidRequestError


def body(event: str, **data: Any) -> bytes:
    return json.dumps({"event": event, "data": data}).encode()


class TestPaystack:
    def test_a_charge_success_is_an_authorization_of_its_reference(self) -> None:
        event = parse_event(
            "paystack",
            body("charge.success", id=42, reference="pi_1-2", status="success", amount=5000,
                 currency="NGN"),
        )  # fmt: skip
        assert (event.event_id, event.type, event.reference) == (
            "charge.success:42",
            "charge.success",
            "pi_1-2",
        )
        assert event.charge == Outcome("authorized", amount=5000, currency="ngn")
        assert event.transfer is None

    def test_an_event_without_an_object_id_is_known_by_its_bytes(self) -> None:
        raw = body("charge.success", reference="pi_1", status="success")
        assert parse_event("paystack", raw).event_id == hashlib.sha256(raw).hexdigest()

    @pytest.mark.parametrize(
        ("kind", "outcome"),
        [
            ("transfer.success", "paid"),
            ("transfer.failed", "failed"),
            ("transfer.reversed", "failed"),
        ],
    )
    def test_a_transfer_event_s_name_is_its_fate(self, kind: str, outcome: str) -> None:
        # Whatever `data.status` says.
        event = parse_event("paystack", body(kind, id=7, reference="po_1", status="pending"))
        assert event.transfer is not None
        assert event.transfer.kind == outcome
        assert event.transfer.reversed == (kind == "transfer.reversed")

    @pytest.mark.parametrize("kind", ["customeridentification.success", "charge.dispute.create"])
    def test_other_events_carry_no_outcome(self, kind: str) -> None:
        event = parse_event("paystack", body(kind, id=1, reference="pi_1"))
        assert (event.charge, event.transfer) == (None, None)


class TestFlutterwave:
    def test_a_completed_charge_is_known_by_id_and_status(self) -> None:
        event = parse_event(
            "flutterwave",
            body("charge.completed", id=9, tx_ref="pi_1", status="successful", amount=50,
                 currency="NGN"),
        )  # fmt: skip
        assert (event.event_id, event.reference) == ("charge.completed:9:successful", "pi_1")
        assert event.charge is not None
        assert event.charge.kind == "authorized"

    def test_a_completed_transfer(self) -> None:
        event = parse_event(
            "flutterwave", body("transfer.completed", id=3, reference="po_1", status="SUCCESSFUL")
        )
        assert event.transfer == TransferOutcome("paid", provider_id="3")

    def test_another_event_has_no_reference(self) -> None:
        assert parse_event("flutterwave", body("subscription.cancelled", id=1)).reference is None


class TestRefused:
    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            (b"not json", "The webhook body is not JSON."),
            (b"\xff\xfe", "The webhook body is not JSON."),
            (b"[]", "The webhook body has no event."),
            (b'{"data": {}}', "The webhook body has no event."),
            (b'{"event": 5}', "The webhook body has no event."),
            (b'{"event": "charge.success", "data": {"x": "\\u0000"}}', "NUL character"),
        ],
    )
    @pytest.mark.parametrize("provider", ["paystack", "flutterwave"])
    def test_what_is_no_event(self, provider: str, raw: bytes, message: str) -> None:
        with pytest.raises(InvalidRequestError, match=message):
            parse_event(provider, raw)


PAYSTACK = Account("paystack", "tenant", "sk_test_secret_1", "sk_test_secret_1", livemode=False)
LIVE = Account("paystack", "tenant", "sk_live_secret_2", "sk_live_secret_2", livemode=True)
FLUTTERWAVE = Account("flutterwave", "platform", "FLWSECK_TEST-1", "the-hash")


class TestSignatures:
    def test_paystack_signs_the_raw_body_with_the_secret_key(self) -> None:
        raw = body("charge.success", id=1)
        signature = hmac.new(b"sk_live_secret_2", raw, hashlib.sha512).hexdigest()
        headers = {"x-paystack-signature": signature.upper()}
        # The account whose key signed it: here the live one.
        assert signed_by("paystack", [PAYSTACK, LIVE], raw, headers) is LIVE

    def test_flutterwave_echoes_the_secret_hash(self) -> None:
        assert signed_by("flutterwave", [FLUTTERWAVE], b"{}", {"verif-hash": "the-hash"}) is (
            FLUTTERWAVE
        )

    @pytest.mark.parametrize(
        ("provider", "headers"),
        [
            ("paystack", {}),
            ("paystack", {"x-paystack-signature": "00" * 64}),
            ("flutterwave", {}),
            ("flutterwave", {"verif-hash": "another-hash"}),
        ],
    )
    def test_a_missing_or_wrong_signature_is_refused(
        self, provider: str, headers: dict[str, str]
    ) -> None:
        with pytest.raises(AuthenticationError) as refused:
            signed_by(provider, [PAYSTACK, FLUTTERWAVE], b"{}", headers)
        assert refused.value.code == "invalid_signature"

    def test_no_account_verifies_nothing(self) -> None:
        with pytest.raises(AuthenticationError):
            signed_by("paystack", [], b"{}", {"x-paystack-signature": "ab"})
