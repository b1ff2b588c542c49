"""How stored rows read back through the API, without a database: a transaction's status
from its kind, resolution and expiry; an account's balance from its running totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.ledger.repository.rows import AccountRow, TransactionRow
from services.ledger.schemas.accounts import AccountType
from services.ledger.schemas.transactions import TransactionKind
from services.ledger.service.accounts import account_of
from services.ledger.service.reading import status_of

NOW = datetime.now(UTC)


def transaction(
    kind: TransactionKind, outcome: str | None = None, expires_at: datetime | None = None
) -> TransactionRow:
    return TransactionRow(
        id="txn_1",
        tenant_id="ten_1",
        livemode=False,
        reference_id="r",
        description=None,
        metadata={},
        kind=kind,
        expires_at=expires_at,
        parent_id=None,
        created_at=NOW,
        outcome=outcome,
        posting_id=None,
        reversed_by=None,
    )


class TestStatus:
    @pytest.mark.parametrize("kind", ["standard", "posting", "reversal"])
    def test_anything_but_a_hold_is_posted(self, kind: TransactionKind) -> None:
        assert status_of(transaction(kind)) == "posted"

    @pytest.mark.parametrize(
        ("outcome", "status"),
        [("posted", "archived"), ("voided", "voided"), ("expired", "expired")],
    )
    def test_a_resolved_hold_shows_its_resolution(self, outcome: str, status: str) -> None:
        assert status_of(transaction("pending", outcome)) == status

    def test_a_live_hold_is_pending(self) -> None:
        assert status_of(transaction("pending")) == "pending"
        # From the clock now, not the module's import: a whole suite runs longer than that.
        later = datetime.now(UTC) + timedelta(minutes=5)
        assert status_of(transaction("pending", expires_at=later)) == "pending"

    def test_a_lapsed_hold_is_expired_before_the_sweeper_records_it(self) -> None:
        earlier = NOW - timedelta(seconds=1)
        assert status_of(transaction("pending", expires_at=earlier)) == "expired"

    def test_a_resolution_wins_over_the_clock(self) -> None:
        earlier = NOW - timedelta(seconds=1)
        assert status_of(transaction("pending", "voided", expires_at=earlier)) == "voided"


def stored_account(type_: AccountType, **totals: int) -> AccountRow:
    values = {
        "debits_posted": 0,
        "credits_posted": 0,
        "debits_pending": 0,
        "credits_pending": 0,
        "expired_debits": 0,
        "expired_credits": 0,
        "version": 3,
        **totals,
    }
    return AccountRow(
        id="acc_1",
        tenant_id="ten_1",
        livemode=True,
        name="Wallet",
        code="wallet",
        type=type_,
        currency="usd",
        no_overdraft=True,
        metadata={"owner": "cus_1"},
        created_at=NOW,
        **values,
    )


class TestAccountBalance:
    def test_the_fields_read_back_as_stored(self) -> None:
        account = account_of(stored_account("liability"))
        assert account.model_dump() == {
            "id": "acc_1",
            "object": "ledger.account",
            "name": "Wallet",
            "code": "wallet",
            "type": "liability",
            "currency": "usd",
            "no_overdraft": True,
            "metadata": {"owner": "cus_1"},
            "balance": {"posted": 0, "pending_debits": 0, "pending_credits": 0, "available": 0},
            "version": 3,
            "livemode": True,
            "created": int(NOW.timestamp()),
        }

    @pytest.mark.parametrize(
        ("type_", "balance"),
        [
            # Held credits leave an asset at once (700 - 100); held debits, a liability.
            ("asset", (700, 40, 100, 600)),
            ("liability", (-700, 40, 100, -740)),
        ],
    )
    def test_the_balance_follows_the_accounts_direction(
        self, type_: AccountType, balance: tuple[int, int, int, int]
    ) -> None:
        found = account_of(
            stored_account(
                type_,
                debits_posted=1000,
                credits_posted=300,
                debits_pending=40,
                credits_pending=100,
            )
        ).balance
        assert (found.posted, found.pending_debits, found.pending_credits, found.available) == (
            balance
        )

    def test_lapsed_holds_are_left_out_before_the_sweep(self) -> None:
        found = account_of(
            stored_account(
                "liability",
                credits_posted=1000,
                debits_pending=300,
                expired_debits=100,
                credits_pending=50,
                expired_credits=50,
            )
        ).balance
        assert (found.posted, found.pending_debits, found.pending_credits, found.available) == (
            1000,
            200,
            0,
            800,
        )
