"""What every movement shares and needs no database for: the balance a ledger posting leaves
a wallet with, and the tenant and mode an operation's upstream calls act in."""

from __future__ import annotations

from typing import Any

import pytest

from services.wallet.service.operations import balance_after, scope_of
from shared.internal_client import Scope
from tests.support.wallet_rows import operation_row

POSTING = {
    "id": "txn_1",
    "entries": [
        {"account_id": "acc_source", "balance_after": "650", "pending": False},
        {"account_id": "acc_target", "balance_after": 350},
    ],
}


@pytest.mark.parametrize(("account", "balance"), [("acc_source", 650), ("acc_target", 350)])
def test_the_balance_after_is_the_accounts_own_entry(account: str, balance: int) -> None:
    assert balance_after(POSTING, account) == balance


@pytest.mark.parametrize(
    "posting",
    [
        {"entries": [{"account_id": "acc_1", "balance_after": 10, "pending": True}]},
        {"entries": [{"account_id": "acc_other", "balance_after": 10}]},
        {"entries": []},
        {"entries": None},
        {},
    ],
)
def test_a_hold_or_another_accounts_entry_tells_no_balance(posting: dict[str, Any]) -> None:
    assert balance_after(posting, "acc_1") is None


def test_an_operation_is_driven_in_its_own_tenant_and_mode() -> None:
    assert scope_of(operation_row(tenant_id="ten_9", livemode=True)) == Scope("ten_9", True)
