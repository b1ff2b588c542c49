"""Withdrawals: a ledger hold, a payout through payments, then the hold posted or voided.

    new --hold--> held --payout asked--> paying --paid--> succeeded (hold posted)
                    |                        \\--failed--> failed (hold voided)
                    \\--refused at once----------------> failed (hold voided)
    new --not enough funds--> failed (nothing held)
    succeeded, then the bank sends the money back --> a reversal (see returns.py)
    paying --failed, provider unreachable--> held (again, later, under a new payout)

A payout that failed because payments could not reach its provider (`provider_unavailable`:
the request never got there, no money moved) does not fail the withdrawal: it is asked for
again under a new payout (attempt n+1, its own Idempotency-Key), once
`payout_retry_base` x 2^(tries - 1) seconds (at most `payout_retry_max`) have passed, by the
recovery job, which skips a withdrawal until its `next_attempt_at`. Once
`withdrawal_deadline` has passed since the withdrawal was made, such a failure fails it with
the provider's reason and voids the hold. When payments itself does not answer, nothing is
known about the payout: the next recovery round asks again (same key), and it is never
failed on that account: the money stays held until payments says what became of it.

Each arrow is one step: a remote call made with no transaction open, then its outcome
written in a short transaction of its own by the operation's one driver (see
`operations.driving`). Each remote call is idempotent (the hold's reference is the
operation id; the payout's Idempotency-Key is derived from it), so a crash, a timeout or a
second driver only ever repeats a step. Settlement happens only while the operation is
pending, by its driver: a payout status learned twice, or learned by a notification before
the synchronous answer, settles once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from services.wallet.clients import payout_attempt
from services.wallet.errors import InsufficientFundsError, WalletFrozenError
from services.wallet.repository import history as history_repo
from services.wallet.repository import operations as operations_repo
from services.wallet.repository.operations import OperationRow
from services.wallet.schemas import WalletOperation, WithdrawRequest
from services.wallet.service import access, operations, returns
from services.wallet.settings import WalletSettings
from services.wallet.state import WalletState
from shared.db import Connection, transaction
from shared.errors import InvalidRequestError
from shared.identity import Identity
from shared.internal_client import Refused, Unavailable
from shared.ledger_contract import Posting, wallet_code, withdrawals_code

log = logging.getLogger("micro.wallet.withdrawals")

# Payments' failure codes for a payout whose provider was never reached: nothing moved, so
# another payout may be asked for.
RETRYABLE = frozenset({"provider_unavailable"})


async def withdraw(
    state: WalletState, identity: Identity, request: WithdrawRequest
) -> WalletOperation:
    async with transaction(state.pool) as conn:
        wallet = await access.own_wallet(conn, identity, request.wallet_id, param="wallet_id")
        if wallet.status == "frozen":
            raise WalletFrozenError(wallet.id, "wallet_id")
        row = await operations.start(
            conn,
            identity,
            type="withdrawal",
            wallet=wallet,
            amount=request.amount,
            description=request.description,
            provider=request.provider,
            destination=request.destination.model_dump(exclude_none=True),
            history=[(wallet.id, "withdrawal", None)],
        )
    try:
        row = await drive(state, row.id)
    except Unavailable as exc:
        row = await operations.still_pending(state.pool, row.id, exc)
    operation = WalletOperation.from_row(row)
    if row.failure_code == "insufficient_funds":
        raise InsufficientFundsError(row.wallet_id, operation.model_dump())
    if row.failure_code == "provider_not_configured":
        # Payments could not pay out at all (the hold is voided): the request was wrong, not
        # the bank, so it is answered as payments answered it.
        raise InvalidRequestError(
            row.failure_message or "No provider is configured for this payout.",
            code="provider_not_configured",
            param="provider",
            extra={"operation": operation.model_dump()},
        )
    return operation


async def drive(state: WalletState, operation_id: str) -> OperationRow:
    """Take steps until the withdrawal is final or waits on the bank."""
    async with operations.driving(state, operation_id) as driver:
        while driver.leased and driver.row.status not in operations.FINAL:
            row = driver.row
            if row.stage == "new":
                await _hold(state, driver)
                continue
            if row.stage == "held":
                if _backing_off(row):
                    return row  # the recovery job asks again at `next_attempt_at`
                payout = await _ask_payout(state, driver)
            else:
                assert row.payout_id is not None, "a paying withdrawal knows its payout"
                payout = await state.payments.payout(operations.scope_of(row), row.payout_id)
            settled = await _settle(state, driver, payout)
            if settled.stage != "held":
                return settled
            # A payout whose provider was unreachable: the loop sees whether to ask again.
        return driver.row


async def on_payout(
    state: WalletState, operation_id: str, payout_id: str | None = None
) -> OperationRow:
    """News of the withdrawal's payout (an event, perhaps before the answer to our own
    request, perhaps twice): settle it if payments says the payout is final, or reverse it
    if a paid payout came back. The payout is read from payments in the operation's own
    tenant, never taken from the news."""
    async with operations.driving(state, operation_id) as driver:
        row = driver.row
        known = row.payout_id or payout_id
        if row.status == "failed" or row.stage == "new" or known is None:
            return row
        try:
            payout = await state.payments.payout(operations.scope_of(row), known)
        except Refused:
            return row  # not a payout of this tenant
        if (payout.get("metadata") or {}).get("wallet_operation") != row.id:
            return row
        if driver.leased:
            return await _settle(state, driver, payout)
    if payout["status"] == "failed":
        await returns.reverse_withdrawal(state, row, payout)
    return row


async def _hold(state: WalletState, driver: operations.Driver) -> None:
    row = driver.row
    scope = operations.scope_of(row)
    await state.ledger.ensure_withdrawals_account(scope, row.currency)
    try:
        hold = await state.ledger.post(
            scope,
            Posting(
                reference_id=row.id,
                description=row.description or f"Wallet withdrawal {row.id}",
                metadata={"wallet_operation": row.id, "type": "withdrawal"},
                debit=wallet_code(row.wallet_id),
                credit=withdrawals_code(row.currency),
                amount=row.amount,
                currency=row.currency,
                pending=True,
            ),
        )
    except Refused as refused:
        failure = (refused.reason_code, refused.reason)
        await driver.apply(
            lambda conn, row: operations.finish(conn, row, "failed", failure=failure)
        )
        return

    async def held(conn: Connection, row: OperationRow) -> OperationRow:
        updated = await operations_repo.update_operation(
            conn, row.id, stage="held", ledger_transaction_id=hold["id"]
        )
        await operations.emit(conn, updated, "wallet.withdrawal.created")
        return updated

    await driver.apply(held)


def _backing_off(row: OperationRow) -> bool:
    return row.next_attempt_at is not None and row.next_attempt_at > datetime.now(UTC)


def payout_key(row: OperationRow) -> str:
    """The payout's Idempotency-Key: the first attempt's is what it always was."""
    attempt = row.payout_attempt
    return f"wallet-{row.id}" if attempt == 1 else f"wallet-{row.id}-{attempt}"


async def _ask_payout(state: WalletState, driver: operations.Driver) -> dict[str, Any]:
    """The payout of the current attempt, asked for (or found)."""
    row = driver.row
    scope = operations.scope_of(row)
    age = (datetime.now(UTC) - row.created_at).total_seconds()
    if age > state.settings.payout_lookup_after:
        # The Idempotency-Key's answer may be gone at payments: never pay out twice.
        found = await state.payments.find_payout(
            scope, wallet_id=row.wallet_id, operation_id=row.id, attempt=row.payout_attempt
        )
        if found is not None:
            return await _recorded(driver, found)
    try:
        payout = await state.payments.create_payout(
            scope,
            {
                "amount": row.amount,
                "currency": row.currency,
                "destination": _destination(row),
                "provider": row.provider,
                "wallet_id": row.wallet_id,
                "description": row.description or f"Wallet withdrawal {row.id}",
                "metadata": {"wallet_operation": row.id, "wallet_attempt": str(row.payout_attempt)},
            },
            idempotency_key=payout_key(row),
        )
    except Refused as refused:
        # Payments made no payout: the money goes back to the wallet.
        return {"id": None, "status": "failed", "failure_code": refused.reason_code,
                "failure_message": refused.reason}  # fmt: skip
    except Unavailable:
        # A 5xx (stored with the key, so asking again answers the same) or no answer: see
        # whether payments made the payout, and how it ended (its provider unreachable
        # leaves it failed). Payments not answering at all is left to the next round.
        found = await state.payments.find_payout(
            scope, wallet_id=row.wallet_id, operation_id=row.id, attempt=row.payout_attempt
        )
        if found is None:
            raise
        return await _recorded(driver, found)
    return await _recorded(driver, payout)


async def _recorded(driver: operations.Driver, payout: dict[str, Any]) -> dict[str, Any]:
    if payout["status"] != "failed":
        await driver.apply(lambda conn, row: _record_payout(conn, row, payout))
    return payout


def next_attempt(row: OperationRow, settings: WalletSettings, retries: int) -> datetime:
    """When to ask again after `retries` failed tries: a doubling wait, capped, and never
    past the deadline (where one last try decides)."""
    delay = min(settings.payout_retry_max, settings.payout_retry_base * 2 ** (retries - 1))
    return min(datetime.now(UTC) + timedelta(seconds=delay), _deadline(row, settings))


def _deadline(row: OperationRow, settings: WalletSettings) -> datetime:
    return row.created_at + timedelta(seconds=settings.withdrawal_deadline)


async def _back_off(
    conn: Connection, row: OperationRow, settings: WalletSettings, error: tuple[str, str]
) -> OperationRow:
    """Count a failed try and wait before the next, which asks for a new payout (the
    current one failed, having moved nothing)."""
    retries = row.retries + 1
    next_at = next_attempt(row, settings, retries)
    log.warning(
        "withdrawal payout failed for want of its provider; asking again later",
        extra={"operation": row.id, "attempt": row.payout_attempt, "reason": error[1],
               "next_attempt_at": next_at.isoformat()},
    )  # fmt: skip
    return await operations_repo.update_operation(
        conn,
        row.id,
        stage="held",
        payout_id=None,
        payout_attempt=row.payout_attempt + 1,
        retries=retries,
        next_attempt_at=next_at,
        last_error_code=error[0],
        last_error_message=error[1],
    )


async def _record_payout(
    conn: Connection, row: OperationRow, payout: dict[str, Any]
) -> OperationRow:
    updated = await operations_repo.update_operation(
        conn, row.id, stage="paying", payout_id=payout["id"]
    )
    await history_repo.settle_lines(conn, row.id, status="pending", counterparty=payout["id"])
    return updated


def _destination(row: OperationRow) -> dict[str, Any]:
    assert row.destination is not None, "a withdrawal has a destination"
    return row.destination


async def _settle(
    state: WalletState, driver: operations.Driver, payout: dict[str, Any]
) -> OperationRow:
    row = driver.row
    scope = operations.scope_of(row)
    payout_id = payout.get("id") or row.payout_id
    hold_id = row.ledger_transaction_id
    assert hold_id is not None, "a withdrawal past its hold knows the hold"
    if payout["status"] == "paid":
        posting = await state.ledger.post_pending(scope, hold_id)

        async def succeeded(conn: Connection, row: OperationRow) -> OperationRow:
            wallet = await operations.wallet_of(conn, row, row.wallet_id)
            balance = operations.balance_after(posting, wallet.ledger_account_id)
            return await operations.finish(
                conn,
                row,
                "succeeded",
                event="wallet.withdrawal.succeeded",
                balances={wallet.id: balance} if balance is not None else None,
                counterparty=payout_id,
                payout_id=payout_id,
            )

        return await driver.apply(succeeded)
    if payout_attempt(payout) not in (None, row.payout_attempt):
        return row  # an earlier attempt's payout, failed already: the current one decides
    if payout["status"] == "failed":
        failure = (
            payout.get("failure_code") or "payout_failed",
            payout.get("failure_message") or "The bank did not accept the payout.",
        )
        if failure[0] in RETRYABLE and datetime.now(UTC) < _deadline(row, state.settings):
            return await driver.apply(
                lambda conn, row: _back_off(conn, row, state.settings, failure)
            )
        await state.ledger.void_pending(scope, hold_id)
        return await driver.apply(
            lambda conn, row: operations.finish(
                conn,
                row,
                "failed",
                event="wallet.withdrawal.failed",
                failure=failure,
                counterparty=payout_id,
                payout_id=payout_id,
            )
        )
    if payout_id is not None and row.payout_id is None:
        # News of a payout whose creation answer never reached us: remember it.
        return await driver.apply(
            lambda conn, row: operations_repo.update_operation(
                conn, row.id, stage="paying", payout_id=payout_id
            )
        )
    return row
