"""shared/ledger_contract.Posting: the one shape payments and the wallet post, two legs
that balance, in the body the ledger takes."""

from __future__ import annotations

from collections import Counter

import pytest

from services.ledger.schemas.transactions import TransactionRequest
from shared.ledger_contract import Posting, balance_code, clearing_code, wallet_code


def payment(amount: int = 700, *, pending: bool = False) -> Posting:
    return Posting(
        reference_id="pi_1",
        description="Payment pi_1",
        metadata={"payment_intent": "pi_1"},
        debit=clearing_code("usd"),
        credit=wallet_code("wal_1"),
        amount=amount,
        currency="usd",
        pending=pending,
    )


def legs(posting: Posting) -> Counter[str]:
    """What each direction adds up to."""
    sums: Counter[str] = Counter()
    for entry in posting.body()["entries"]:
        sums[entry["direction"]] += entry["amount"]
    return sums


@pytest.mark.parametrize("amount", [1, 700, 999_999_999_999])
def test_the_two_legs_balance(amount: int) -> None:
    assert legs(payment(amount)) == {"debit": amount, "credit": amount}


def test_the_body_is_the_transaction_the_clients_wrote_by_hand() -> None:
    assert payment().body() == {
        "reference_id": "pi_1",
        "description": "Payment pi_1",
        "metadata": {"payment_intent": "pi_1"},
        "entries": [
            {"account_id": "payments.clearing.usd", "amount": 700, "direction": "debit"},
            {"account_id": "wallet.wal_1", "amount": 700, "direction": "credit"},
        ],
    }


def test_a_hold_says_pending_and_anything_else_leaves_it_out() -> None:
    assert payment(pending=True).body()["pending"] is True
    assert "pending" not in payment().body()


@pytest.mark.parametrize("pending", [False, True])
def test_the_ledger_takes_the_body_as_it_is(pending: bool) -> None:
    taken = TransactionRequest.model_validate(payment(pending=pending).body())
    assert (taken.reference_id, taken.pending) == ("pi_1", pending)
    assert [(e.account_id, e.amount, e.direction) for e in taken.entries] == [
        ("payments.clearing.usd", 700, "debit"),
        ("wallet.wal_1", 700, "credit"),
    ]


def test_the_currency_is_data_the_posting_carries() -> None:
    posting = Posting(
        reference_id="po_1", description="Payout po_1", metadata={"payout": "po_1"},
        debit=balance_code("ngn"), credit=clearing_code("ngn"), amount=5, currency="ngn",
    )  # fmt: skip
    assert posting.currency == "ngn"
    assert "currency" not in posting.body()  # the ledger knows it from the accounts


def test_a_reversal_swaps_the_legs_under_its_own_reference() -> None:
    paid = payment()
    back = paid.reversed(reference_id="pi_1.reversal", description="Payment pi_1 reversed")
    assert (back.debit, back.credit) == (paid.credit, paid.debit)
    assert (back.amount, back.currency, back.metadata) == (paid.amount, "usd", paid.metadata)
    assert (back.reference_id, back.description) == ("pi_1.reversal", "Payment pi_1 reversed")
    assert legs(back) == legs(paid)


def test_the_body_is_a_copy_a_caller_may_change() -> None:
    posting = payment()
    posting.body()["metadata"]["extra"] = "x"
    assert posting.body()["metadata"] == {"payment_intent": "pi_1"}
