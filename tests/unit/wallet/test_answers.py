"""What the wallet answers, built from its rows: the account number masked, the signed
change of each history line, the sending wallet named only for transfers."""

from __future__ import annotations

from typing import Any

import pytest

from services.wallet.repository.history import TransactionType
from services.wallet.schemas import Wallet, WalletOperation, WalletTransaction
from tests.support.wallet_rows import MOMENT, history_row, operation_row, wallet_row


def test_a_wallet_answers_its_row_with_the_creation_time_in_seconds() -> None:
    row = wallet_row(status="frozen", metadata={"tier": "gold"})
    assert Wallet.from_row(row).model_dump() == {
        "id": "wal_1", "object": "wallet", "owner": "cus_1", "currency": "usd",
        "ledger_account_id": "acc_1", "status": "frozen", "metadata": {"tier": "gold"},
        "livemode": True, "created": int(MOMENT.timestamp()),
    }  # fmt: skip


def test_a_withdrawal_shows_only_the_last_four_digits_and_keeps_its_row_whole() -> None:
    destination = {"account_number": "0123456789", "bank_code": "058"}
    row = operation_row(type="withdrawal", destination=destination)
    shown = WalletOperation.from_row(row)
    assert shown.destination == {"account_number": "******6789", "bank_code": "058"}
    assert row.destination == {"account_number": "0123456789", "bank_code": "058"}


def test_an_operation_names_its_references_under_the_api_names() -> None:
    row = operation_row(
        ledger_transaction_id="txn_1", payout_id="po_1", source_id="re_1",
        next_action={"type": "redirect_to_url"}, failure_code="card_declined",
        failure_message="Declined.",
    )  # fmt: skip
    shown = WalletOperation.from_row(row).model_dump()
    assert {k: shown[k] for k in ("payment_intent", "payout", "source", "next_action")} == {
        "payment_intent": "pi_1", "payout": "po_1", "source": "re_1",
        "next_action": {"type": "redirect_to_url"},
    }  # fmt: skip
    assert (shown["failure_code"], shown["created"]) == ("card_declined", int(MOMENT.timestamp()))


@pytest.mark.parametrize(
    ("fields", "sender"),
    [
        ({"type": "transfer", "to_wallet_id": "wal_2"}, "wal_1"),
        ({"type": "deposit"}, None),
        ({"type": "withdrawal", "destination": {"account_number": "0123456789"}}, None),
        ({"type": "refund"}, None),
        ({"type": "reversal"}, None),
    ],
)
def test_only_a_transfer_names_a_sending_wallet(fields: dict[str, Any], sender: str | None) -> None:
    shown = WalletOperation.from_row(operation_row(**fields))
    assert (shown.wallet_id, shown.from_wallet_id) == ("wal_1", sender)


@pytest.mark.parametrize(
    ("type", "net"),
    [
        ("deposit", 300),
        ("transfer_in", 300),
        ("reversal", 300),
        ("transfer_out", -300),
        ("withdrawal", -300),
        ("refund", -300),
    ],
)
def test_a_history_line_signs_its_change_to_the_wallet(type: TransactionType, net: int) -> None:
    shown = WalletTransaction.from_row(history_row(type))
    assert (shown.amount, shown.net, shown.operation) == (300, net, "wop_1")
