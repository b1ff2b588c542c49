"""The payment intent's state machine (service/lifecycle.py): which action each status
allows, and what a provider's later word does to an intent. Pure: no database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from services.payments.errors import UnexpectedStateError
from services.payments.providers.base import Outcome, attempt_reference, intent_of
from services.payments.repository.intents import IntentRow
from services.payments.service.lifecycle import (
    ALLOWED,
    Action,
    action_token,
    check_action,
    current_reference,
    judge,
)

STATUSES = (
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "processing",
    "requires_capture",
    "succeeded",
    "canceled",
)


def intent(**changes: Any) -> IntentRow:
    base = IntentRow(
        id="pi_1", tenant_id="ten_1", livemode=False, amount=5000, amount_capturable=0,
        amount_received=0, currency="ngn", status="processing", capture_method="automatic",
        provider="paystack", payment_method=None, description=None, metadata={},
        receipt_email="ada@example.com", wallet_id=None, last_payment_error=None,
        next_action=None, cancellation_reason=None, canceled_at=None,
        created_at=datetime(2026, 1, 1, tzinfo=UTC), provider_account="platform", attempts=1,
        customer_id=None, latest_charge=None,
    )  # fmt: skip
    return dataclasses.replace(base, **changes)


# Which status allows which action: Stripe's PaymentIntent lifecycle.
TABLE: dict[Action, set[str]] = {
    "update": {"requires_payment_method", "requires_confirmation", "requires_action"},
    "confirm": {"requires_payment_method", "requires_confirmation"},
    "authenticate": {"requires_action"},
    "cancel": {
        "requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"
    },
    "capture": {"requires_capture"},
    "refund": {"succeeded"},
}  # fmt: skip


class TestActions:
    def test_the_table_names_every_action(self) -> None:
        assert set(ALLOWED) == set(TABLE)

    @pytest.mark.parametrize("action", sorted(TABLE))
    @pytest.mark.parametrize("status", STATUSES)
    def test_an_action_is_allowed_only_from_its_statuses(self, action: Action, status: str) -> None:
        row = intent(status=status)
        if status in TABLE[action]:
            check_action(row, action)
            return
        with pytest.raises(UnexpectedStateError) as refused:
            check_action(row, action)
        assert refused.value.status_code == 400
        assert refused.value.code == "payment_intent_unexpected_state"
        assert refused.value.message == (
            f"You cannot {action} this PaymentIntent because it has a status of {status}."
        )
        assert refused.value.extra == {"payment_intent": {"id": "pi_1", "status": status}}

    def test_a_finished_intent_allows_nothing_but_a_refund_once_succeeded(self) -> None:
        assert [a for a in TABLE if "succeeded" in TABLE[a]] == ["refund"]
        assert [a for a in TABLE if "canceled" in TABLE[a]] == []


AUTHORIZED = Outcome("authorized", amount=5000, currency="ngn")
DECLINED = Outcome("declined", decline_code="generic_decline", message="No.")


class TestJudge:
    @pytest.mark.parametrize("kind", ["pending", "action_required"])
    def test_no_answer_yet_changes_nothing(self, kind: Any) -> None:
        assert judge(intent(), Outcome(kind), reference="pi_1") == "still_pending"

    @pytest.mark.parametrize("status", ["succeeded", "canceled", "requires_capture"])
    @pytest.mark.parametrize("outcome", [AUTHORIZED, DECLINED])
    def test_a_finished_intent_is_never_moved(self, status: str, outcome: Outcome) -> None:
        assert judge(intent(status=status), outcome, reference="pi_1") == f"ignored_{status}"

    @pytest.mark.parametrize(
        "status",
        ["requires_payment_method", "requires_confirmation", "requires_action", "processing"],
    )
    def test_a_success_lands_from_any_open_status(self, status: str) -> None:
        assert judge(intent(status=status), AUTHORIZED, reference="pi_1") == "succeeded"

    def test_a_success_of_an_older_attempt_still_lands(self) -> None:
        # The money moved, whichever attempt took it.
        assert judge(intent(attempts=3), AUTHORIZED, reference="pi_1") == "succeeded"

    @pytest.mark.parametrize(
        "outcome",
        [
            Outcome("authorized", amount=4999, currency="ngn"),
            Outcome("authorized", amount=5000, currency="ghs"),
            Outcome("authorized"),  # a provider that did not say what it took
        ],
    )
    def test_money_the_intent_did_not_ask_for_is_left_for_a_human(self, outcome: Outcome) -> None:
        assert judge(intent(), outcome, reference="pi_1") == "amount_mismatch"

    def test_a_failure_of_the_current_attempt_fails_the_intent(self) -> None:
        assert judge(intent(attempts=2), DECLINED, reference="pi_1-2") == "payment_failed"

    def test_a_failure_of_an_older_attempt_is_ignored(self) -> None:
        assert judge(intent(attempts=2), DECLINED, reference="pi_1") == "ignored_old_attempt"

    def test_a_failure_already_recorded_is_not_recorded_twice(self) -> None:
        failed = intent(status="requires_payment_method", last_payment_error={"code": "x"})
        assert judge(failed, DECLINED, reference="pi_1") == "already_failed"

    def test_a_failure_lands_on_an_intent_waiting_for_a_method_with_no_error_yet(self) -> None:
        waiting = intent(status="requires_payment_method")
        assert judge(waiting, DECLINED, reference="pi_1") == "payment_failed"


class TestReferences:
    @pytest.mark.parametrize(
        ("attempts", "reference"), [(0, "pi_1"), (1, "pi_1"), (2, "pi_1-2"), (7, "pi_1-7")]
    )
    def test_each_attempt_has_its_own_reference(self, attempts: int, reference: str) -> None:
        assert current_reference(intent(attempts=attempts)) == reference
        assert attempt_reference("pi_1", attempts) == reference
        assert intent_of(reference) == "pi_1"


class TestActionToken:
    def test_the_token_is_read_from_the_redirect_url(self) -> None:
        action = {
            "type": "redirect_to_url",
            "redirect_to_url": {"url": "http://gw/webhooks/simulator/authenticate/pi_1?token=abc"},
        }
        assert action_token(action) == "abc"

    @pytest.mark.parametrize(
        "action",
        [
            None,
            {},
            {"type": "redirect_to_url", "redirect_to_url": {"url": "https://checkout.example/x"}},
            {"type": "redirect_to_url", "redirect_to_url": {}},
        ],
    )
    def test_no_token_without_one_in_the_url(self, action: dict[str, Any] | None) -> None:
        assert action_token(action) is None
