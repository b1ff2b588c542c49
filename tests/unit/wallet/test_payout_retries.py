"""A withdrawal's payout tries: the wait before each (doubling from the base, capped, never
past the deadline), the Idempotency-Key of each, and which payouts are whose attempt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.wallet.clients import payout_attempt
from services.wallet.service.withdrawals import next_attempt, payout_key
from services.wallet.settings import WalletSettings
from tests.support.secrets import TEST_SECRET_FIELDS
from tests.support.wallet_rows import operation_row


def settings(**values: Any) -> WalletSettings:
    return WalletSettings.model_validate({**TEST_SECRET_FIELDS, **values})


@pytest.mark.parametrize(
    ("retries", "wait"), [(1, 30), (2, 60), (3, 120), (6, 960), (7, 1000), (40, 1000)]
)
def test_the_wait_doubles_up_to_the_cap(retries: int, wait: float) -> None:
    row = operation_row(type="withdrawal", created_at=datetime.now(UTC))
    before = datetime.now(UTC)
    at = next_attempt(row, settings(payout_retry_base=30, payout_retry_max=1000), retries)
    assert before + timedelta(seconds=wait) <= at <= datetime.now(UTC) + timedelta(seconds=wait)


def test_the_last_try_is_at_the_deadline_not_after_it() -> None:
    made = datetime.now(UTC) - timedelta(seconds=950)
    row = operation_row(type="withdrawal", created_at=made)
    at = next_attempt(row, settings(payout_retry_base=100, withdrawal_deadline=1000), 1)
    assert at == made + timedelta(seconds=1000)


def test_each_attempt_has_its_own_key_and_the_first_keeps_the_old_one() -> None:
    assert payout_key(operation_row(id="wop_9")) == "wallet-wop_9"
    assert payout_key(operation_row(id="wop_9", payout_attempt=3)) == "wallet-wop_9-3"


@pytest.mark.parametrize(
    ("payout", "attempt"),
    [
        ({"metadata": {"wallet_operation": "wop_1"}}, 1),  # made before attempts were counted
        ({"metadata": {"wallet_operation": "wop_1", "wallet_attempt": "4"}}, 4),
        ({"metadata": {"wallet_attempt": "x"}}, None),
        ({"id": None, "status": "failed"}, None),  # payments' refusal: no payout at all
    ],
)
def test_a_payout_names_its_attempt(payout: dict[str, Any], attempt: int | None) -> None:
    assert payout_attempt(payout) == attempt
