"""What each provider's refund states mean (API answers and webhook data alike)."""

from __future__ import annotations

import pytest

from services.payments.providers import flutterwave, paystack
from services.payments.providers.base import RefundOutcome


@pytest.mark.parametrize(
    ("state", "kind"),
    [
        ("pending", "pending"),
        ("processing", "pending"),
        ("processed", "succeeded"),
        ("failed", "failed"),
        ("something_new", "pending"),  # an unknown word never settles money
    ],
)
def test_paystack_states(state: str, kind: str) -> None:
    outcome = paystack.refund_outcome({"id": 3018284, "status": state})
    assert (outcome.kind, outcome.provider_id) == (kind, "3018284")
    assert (outcome.failure_reason is not None) == (kind == "failed")


@pytest.mark.parametrize(
    ("state", "kind"),
    [("completed", "succeeded"), ("COMPLETED", "succeeded"), ("failed", "failed"),
     ("pending", "pending"), ("", "pending")],
)  # fmt: skip
def test_flutterwave_states(state: str, kind: str) -> None:
    outcome = flutterwave.refund_outcome({"id": 8612, "status": state})
    assert (outcome.kind, outcome.provider_id) == (kind, "8612")


def test_a_refund_with_no_id_yet() -> None:
    assert paystack.refund_outcome({"status": "pending"}) == RefundOutcome("pending")


def test_flutterwave_comments_carry_our_refund_id_back() -> None:
    comment = flutterwave.refund_comment("re_01abc")
    assert flutterwave.refund_of_comment(comment) == "re_01abc"
    assert flutterwave.refund_of_comment("refunds for ABC goods") is None
    assert flutterwave.refund_of_comment(None) is None
