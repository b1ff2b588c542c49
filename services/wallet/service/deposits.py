"""Deposits: a card payment through the payments service, made for the wallet.

Payments credits the wallet's ledger account (`wallet.{id}`) when the payment intent
succeeds, with the intent id as the posting's reference; the deposit succeeds once that
posting is in the ledger. An intent that needs the customer (3-D Secure) or a slow provider
leaves the deposit pending; the recovery job follows the intent to its end.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from services.wallet.errors import DepositDeclinedError
from services.wallet.repository import history as history_repo
from services.wallet.repository import operations as operations_repo
from services.wallet.repository import wallets as wallets_repo
from services.wallet.repository.operations import OperationRow
from services.wallet.schemas import DepositRequest, WalletOperation
from services.wallet.service import access, operations
from services.wallet.state import WalletState
from shared.db import Connection, transaction
from shared.errors import InvalidRequestError
from shared.identity import Identity
from shared.ids import new_id
from shared.internal_client import Refused, Scope, Unavailable

_POLL = 0.05


async def deposit(
    state: WalletState, identity: Identity, request: DepositRequest
) -> WalletOperation:
    async with transaction(state.pool) as conn:
        # A frozen wallet still receives money.
        wallet = await access.own_wallet(conn, identity, request.wallet_id, param="wallet_id")
        row = await operations.start(
            conn,
            identity,
            type="deposit",
            wallet=wallet,
            amount=request.amount,
            description=request.description,
            provider=request.provider,
            payment_method=request.payment_method,
            history=[(wallet.id, "deposit", None)],
        )
    try:
        row = await drive(state, row.id, wait=state.settings.deposit_wait)
    except Unavailable as exc:
        row = await operations.still_pending(state.pool, row.id, exc)
    operation = WalletOperation.from_row(row)
    if row.status == "failed":
        raise_failure(row, operation)
    return operation


async def record_external(
    state: WalletState, intent: dict[str, Any], *, tenant_id: str, livemode: bool
) -> OperationRow | None:
    """A payment made for a wallet straight through payments (not through POST
    /wallet/deposit): payments credits the wallet all the same, so its history shows it
    too. None when the wallet is not ours."""
    intent_id, wallet_id = intent.get("id"), intent.get("wallet_id")
    if not intent_id or not wallet_id:
        return None
    async with transaction(state.pool) as conn:
        wallet = await wallets_repo.get_wallet(
            conn, wallet_id=wallet_id, livemode=livemode, tenant_id=tenant_id
        )
        if wallet is None:
            return None
        row, new = await operations_repo.insert_operation(
            conn,
            id=new_id("wop"),
            tenant_id=tenant_id,
            livemode=livemode,
            type="deposit",
            wallet_id=wallet_id,
            to_wallet_id=None,
            amount=int(intent["amount"]),
            currency=wallet.currency,
            description=intent.get("description"),
            provider=intent.get("provider"),
            idempotency_key=f"intent:{intent_id}",
            payment_intent_id=intent_id,
        )
        if new:
            await history_repo.insert_lines(
                conn, row, [(new_id("wtx"), wallet_id, "deposit", intent_id)]
            )
    return await drive(state, row.id, wait=state.settings.deposit_wait)


def raise_failure(row: OperationRow, operation: WalletOperation) -> None:
    """A failed deposit as its answer: 402 for a declined card, 400 with payments' code else."""
    code, message = row.failure_code, row.failure_message or "The deposit failed."
    if code == "card_declined":
        raise DepositDeclinedError(message, decline_code=None, operation=operation.model_dump())
    raise InvalidRequestError(
        message, code=code or "deposit_failed", extra={"operation": operation.model_dump()}
    )


async def drive(state: WalletState, operation_id: str, *, wait: float = 0.0) -> OperationRow:
    async with operations.driving(state, operation_id) as driver:
        row = driver.row
        if not driver.leased:
            return row
        scope = operations.scope_of(row)
        if row.payment_intent_id is None:
            try:
                intent = await state.payments.create_intent(
                    scope,
                    intent_request(row),
                    idempotency_key=f"wallet-{row.id}",
                )
            except Refused as refused:
                said_no = refused
                return await driver.apply(lambda conn, row: _refused(conn, row, said_no))
        else:
            intent = await state.payments.intent(scope, row.payment_intent_id)
        posting = None
        if intent["status"] == "succeeded":
            posting = await _credited(state, scope, intent["id"], wait=wait)
        return await driver.apply(lambda conn, row: _follow(conn, row, intent, posting))


def intent_request(row: OperationRow) -> dict[str, Any]:
    """The payment intent a deposit asks payments for: confirmed at once, for the wallet."""
    request: dict[str, Any] = {
        "amount": row.amount,
        "currency": row.currency,
        "wallet_id": row.wallet_id,
        "provider": row.provider,
        "confirm": True,
        "description": row.description or f"Wallet deposit {row.id}",
        "metadata": {"wallet_operation": row.id},
    }
    if row.payment_method:
        request["payment_method"] = row.payment_method
    return request


async def _refused(conn: Connection, row: OperationRow, refused: Refused) -> OperationRow:
    """Payments said no at once: a declined card (the intent exists), or a bad request."""
    intent = refused.answer.get("error", {}).get("payment_intent") or {}
    changes: dict[str, Any] = {}
    if intent.get("id"):
        changes["payment_intent_id"] = intent["id"]
    return await operations.finish(
        conn,
        row,
        "failed",
        # Announced when a payment was attempted; a request payments refused is only an answer.
        event="wallet.deposit.failed" if intent.get("id") else None,
        failure=(refused.reason_code, refused.reason),
        counterparty=intent.get("id"),
        **changes,
    )


async def _follow(
    conn: Connection,
    row: OperationRow,
    intent: dict[str, Any],
    posting: dict[str, Any] | None,
) -> OperationRow:
    """Record what the intent (and, once it succeeded, its ledger posting) says now."""
    status, intent_id = intent["status"], intent["id"]
    if status == "succeeded" and posting is not None:
        wallet = await operations.wallet_of(conn, row, row.wallet_id)
        balance = operations.balance_after(posting, wallet.ledger_account_id)
        if balance is not None:
            return await operations.finish(
                conn,
                row,
                "succeeded",
                event="wallet.deposit.succeeded",
                balances={wallet.id: balance},
                counterparty=intent_id,
                payment_intent_id=intent_id,
                ledger_transaction_id=posting["id"],
            )
    elif (failure := intent_failure(intent)) is not None:
        return await operations.finish(
            conn,
            row,
            "failed",
            event="wallet.deposit.failed",
            failure=failure,
            counterparty=intent_id,
            payment_intent_id=intent_id,
        )
    # Not finished: the customer must act (next_action), or the money is still on its way.
    updated = await operations_repo.update_operation(
        conn, row.id, payment_intent_id=intent_id, next_action=intent.get("next_action")
    )
    await history_repo.settle_lines(conn, row.id, status="pending", counterparty=intent_id)
    return updated


def intent_failure(intent: dict[str, Any]) -> tuple[str, str] | None:
    """(code, message) when the intent ended without the money: canceled, or its payment
    failed and it waits for another method; None while it may still succeed."""
    status = intent["status"]
    if status == "canceled" or (
        status == "requires_payment_method" and intent.get("last_payment_error")
    ):
        error = intent.get("last_payment_error") or {}
        return (
            error.get("code") or "payment_intent_canceled",
            error.get("message") or "The payment was canceled.",
        )
    return None


async def _credited(
    state: WalletState, scope: Scope, intent_id: str, *, wait: float
) -> dict[str, Any] | None:
    """The payment's ledger posting, waiting up to `wait` seconds for payments to post it."""
    deadline = time.monotonic() + wait
    while True:
        posting = await state.ledger.by_reference(scope, intent_id)
        if posting is not None or time.monotonic() >= deadline:
            return posting
        await asyncio.sleep(_POLL)
