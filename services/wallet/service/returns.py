"""Money coming back out of, or into, a wallet after the fact.

- refund: a deposit's card payment is refunded through payments, which takes the money
  back out of the wallet's ledger account (reference = the refund id). The wallet records
  it when payments announces the refund, and calls it succeeded once the posting is in the
  ledger, or failed (with payments' `failure_reason`, e.g. `insufficient_funds` when the
  wallet was emptied before the posting) once payments says the refund failed: it is never
  waited on for ever.
- reversal: the bank sends a paid withdrawal back (payments marks the payout failed); the
  wallet credits itself from the withdrawals account (reference = the reversal's id).

Each is an operation made once per source (its key is the refund id or the withdrawal id),
so an announcement heard twice records one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from services.wallet.repository import history as history_repo
from services.wallet.repository import operations as operations_repo
from services.wallet.repository.operations import OperationRow
from services.wallet.service import operations
from services.wallet.state import WalletState
from shared.db import Connection, transaction
from shared.ids import new_id
from shared.internal_client import Refused, Scope
from shared.ledger_contract import Posting, wallet_code, withdrawals_code

_POLL = 0.05
EVENTS = {"refund": "wallet.refund.succeeded", "reversal": "wallet.withdrawal.reversed"}
REFUND_FAILED = "wallet.refund.failed"


async def record_refund(state: WalletState, refund: dict[str, Any]) -> OperationRow | None:
    """A payments refund: None unless it refunds one of our deposits."""
    refund_id, intent_id = refund.get("id"), refund.get("payment_intent")
    if not refund_id or not intent_id:
        return None
    async with transaction(state.pool) as conn:
        deposit = await operations_repo.find_deposit(conn, intent_id)
        if deposit is None:
            return None
        row = await _start(
            conn, deposit, type="refund", amount=int(refund["amount"]), source_id=refund_id,
            counterparty=refund_id,
        )  # fmt: skip
    return await drive(state, row.id, wait=state.settings.deposit_wait)


async def refund_failed(
    state: WalletState, refund: dict[str, Any], *, tenant_id: str, livemode: bool
) -> OperationRow | None:
    """A payments refund failed: its refund operation here (if one was recorded when it
    was announced succeeded) is driven to its end now."""
    refund_id = refund.get("id")
    if not refund_id or not tenant_id:
        return None
    async with transaction(state.pool) as conn:
        row = await operations_repo.find_by_key(
            conn, tenant_id=tenant_id, livemode=livemode, idempotency_key=f"refund:{refund_id}"
        )
    if row is None:
        return None
    return await drive(state, row.id)


async def posting_refused(
    state: WalletState, posting: dict[str, Any], *, tenant_id: str, livemode: bool
) -> OperationRow | None:
    """The ledger refused a refund's posting for good (`ledger.posting.failed`): the money
    never left the wallet's account, so its refund operation ends failed with the ledger's
    reason instead of waiting for a posting that will never come. (A simulator refund also
    fails in payments then; a provider's refund that did give the money back stays
    succeeded there, and the refused posting is an operator's to settle.)"""
    reference = str(posting.get("reference_id") or "")
    if not reference.startswith("re_") or not tenant_id:
        return None
    async with transaction(state.pool) as conn:
        row = await operations_repo.find_by_key(
            conn, tenant_id=tenant_id, livemode=livemode, idempotency_key=f"refund:{reference}"
        )
    if row is None:
        return None
    failure_of = posting.get("failure") or {}
    code = str(failure_of.get("code") or "ledger_refused")
    failure = (code, str(failure_of.get("message") or "The ledger refused the refund."))
    async with operations.driving(state, row.id) as driver:
        if not driver.leased:
            return driver.row
        return await driver.apply(
            lambda conn, row: operations.finish(
                conn, row, "failed", failure=failure, event=REFUND_FAILED
            )
        )


async def reverse_withdrawal(
    state: WalletState, withdrawal: OperationRow, payout: dict[str, Any]
) -> OperationRow:
    async with transaction(state.pool) as conn:
        row = await _start(
            conn, withdrawal, type="reversal", amount=withdrawal.amount,
            source_id=withdrawal.id, counterparty=payout.get("id"),
        )  # fmt: skip
    return await drive(state, row.id)


async def _start(
    conn: Connection,
    origin: OperationRow,
    *,
    type: Literal["refund", "reversal"],
    amount: int,
    source_id: str,
    counterparty: str | None,
) -> OperationRow:
    row, new = await operations_repo.insert_operation(
        conn,
        id=new_id("wop"),
        tenant_id=origin.tenant_id,
        livemode=origin.livemode,
        type=type,
        wallet_id=origin.wallet_id,
        to_wallet_id=None,
        amount=amount,
        currency=origin.currency,
        description=origin.description,
        idempotency_key=f"{type}:{source_id}",
        payment_intent_id=origin.payment_intent_id,
        source_id=source_id,
    )
    if new:
        await history_repo.insert_lines(
            conn, row, [(new_id("wtx"), origin.wallet_id, type, counterparty)]
        )
    return row


async def drive(state: WalletState, operation_id: str, *, wait: float = 0.0) -> OperationRow:
    async with operations.driving(state, operation_id) as driver:
        row = driver.row
        if not driver.leased:
            return row
        scope = operations.scope_of(row)
        if row.type == "refund":
            assert row.source_id is not None, "a refund names its payments refund"
            posting = await _posted(state, scope, row.source_id, wait=wait)
            if posting is None:
                try:
                    refund = await state.payments.refund(scope, row.source_id)
                except Refused:
                    return row  # not payments' to say (yet): the recovery job looks again
                if refund.get("status") == "failed":
                    # Payments gave up on it (the ledger refused its posting): terminal.
                    reason = str(refund.get("failure_reason") or "unknown")
                    failure = (reason, f"The refund {row.source_id} failed: {reason}.")
                    return await driver.apply(
                        lambda conn, row: operations.finish(
                            conn, row, "failed", failure=failure, event=REFUND_FAILED
                        )
                    )
                return row  # payments has not posted it yet: the recovery job looks again
        else:
            try:
                posting = await state.ledger.post(scope, _reversal(row))
            except Refused as refused:
                failure = (refused.reason_code, refused.reason)
                return await driver.apply(
                    lambda conn, row: operations.finish(conn, row, "failed", failure=failure)
                )

        async def succeeded(conn: Connection, row: OperationRow) -> OperationRow:
            wallet = await operations.wallet_of(conn, row, row.wallet_id)
            balance = operations.balance_after(posting, wallet.ledger_account_id)
            return await operations.finish(
                conn,
                row,
                "succeeded",
                event=EVENTS[row.type],
                balances={wallet.id: balance} if balance is not None else None,
                ledger_transaction_id=posting["id"],
            )

        return await driver.apply(succeeded)


def _reversal(row: OperationRow) -> Posting:
    return Posting(
        reference_id=row.id,
        description=f"Withdrawal {row.source_id} sent back by the bank",
        metadata={"wallet_operation": row.id, "type": "reversal"},
        debit=withdrawals_code(row.currency),
        credit=wallet_code(row.wallet_id),
        amount=row.amount,
        currency=row.currency,
    )


async def _posted(
    state: WalletState, scope: Scope, reference_id: str, *, wait: float
) -> dict[str, Any] | None:
    deadline = time.monotonic() + wait
    while True:
        posting = await state.ledger.by_reference(scope, reference_id)
        if posting is not None or time.monotonic() >= deadline:
            return posting
        await asyncio.sleep(_POLL)
