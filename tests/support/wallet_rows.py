"""The wallet's typed rows built in memory, for unit tests of what is made from them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from services.wallet.repository.history import HistoryRow, TransactionType
from services.wallet.repository.operations import OperationRow
from services.wallet.repository.wallets import WalletRow

MOMENT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

_OPERATION = OperationRow(
    id="wop_1", tenant_id="ten_1", livemode=False, type="deposit", wallet_id="wal_1",
    to_wallet_id=None, amount=500, currency="usd", description=None, status="pending",
    stage="new", ledger_transaction_id=None, payment_intent_id="pi_1", payout_id=None,
    source_id=None, provider="simulator", payment_method="pm_card_visa", destination=None,
    next_action=None, failure_code=None, failure_message=None, idempotency_key=None,
    created_at=MOMENT, updated_at=MOMENT,
)  # fmt: skip


def operation_row(**changes: Any) -> OperationRow:
    """A pending card deposit of 500 usd into wal_1, with `changes`."""
    return replace(_OPERATION, **changes)


def wallet_row(**changes: Any) -> WalletRow:
    row = WalletRow(
        id="wal_1", tenant_id="ten_1", livemode=True, owner="cus_1", currency="usd",
        ledger_account_id="acc_1", status="active", metadata={}, created_at=MOMENT,
    )  # fmt: skip
    return replace(row, **changes)


def history_row(type: TransactionType, **changes: Any) -> HistoryRow:
    row = HistoryRow(
        id="wtx_1", tenant_id="ten_1", livemode=True, wallet_id="wal_1", operation_id="wop_1",
        type=type, counterparty="wal_2", amount=300, currency="usd", status="succeeded",
        balance_after=1200, description="rent", created_at=MOMENT,
    )  # fmt: skip
    return replace(row, **changes)
