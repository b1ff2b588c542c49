"""Refunds: full or partial, never more than was received; each owes the ledger its reverse."""

from __future__ import annotations

from dataclasses import dataclass

from services.payments.errors import PaymentIntentNotFoundError
from services.payments.repository import intents as intents_repo
from services.payments.repository import outbox as outbox_repo
from services.payments.repository import refunds as refunds_repo
from services.payments.repository.intents import IntentRow
from services.payments.schemas import Refund, RefundRequest
from services.payments.service import events
from services.payments.service.changes import Changed
from services.payments.service.ledger_reader import LedgerAccounts
from services.payments.service.lifecycle import check_action
from shared.db import Connection, Pool, transaction
from shared.errors import InvalidRequestError, NotFoundError
from shared.identity import Identity
from shared.ids import new_id
from shared.ledger_contract import Posting, balance_code, clearing_code, wallet_code
from shared.pagination import ListParams, page


@dataclass(frozen=True, slots=True)
class WalletDebit:
    """A refund of a payment into a wallet comes out of that wallet."""

    tenant_id: str
    livemode: bool
    wallet_id: str
    amount: int


async def check_refund(
    conn: Connection, identity: Identity, request: RefundRequest
) -> WalletDebit | None:
    """The checks `create_refund` makes, ahead of it (same errors, same order), and the
    wallet debit the ledger must be asked about before the refund's own transaction."""
    intent, amount = await _refundable(conn, identity, request, lock=False)
    if not intent.wallet_id:
        return None
    return WalletDebit(intent.tenant_id, intent.livemode, intent.wallet_id, amount)


async def create_refund(
    conn: Connection, identity: Identity, request: RefundRequest
) -> Changed[Refund]:
    """The refund and the posting it owes the ledger, in the transaction that locks its
    payment (the wallet's funds were asked of the ledger before it, by `check_refund` and
    `check_wallet_funds`)."""
    intent, amount = await _refundable(conn, identity, request, lock=True)
    refund_id = new_id("re")
    row = await refunds_repo.insert_refund(
        conn,
        refund_id=refund_id,
        tenant_id=intent.tenant_id,
        livemode=intent.livemode,
        intent_id=intent.id,
        amount=amount,
        currency=intent.currency,
        reason=request.reason,
    )
    currency = intent.currency
    posting = Posting(
        reference_id=refund_id,
        description=f"Refund {refund_id} of {intent.id}",
        metadata={"payment_intent": intent.id, "refund": refund_id},
        # Paid into a wallet: the refund comes out of that wallet's account.
        debit=wallet_code(intent.wallet_id) if intent.wallet_id else balance_code(currency),
        credit=clearing_code(currency),
        amount=amount,
        currency=currency,
    )
    await outbox_repo.insert_outbox(
        conn,
        outbox_id=new_id("obx"),
        tenant_id=intent.tenant_id,
        livemode=intent.livemode,
        reference_id=posting.reference_id,
        body=posting.body(),
        currency=posting.currency,
    )
    refund = Refund.from_row(row)
    # A refund over the simulator completes at once: created and succeeded together.
    for type in ("refund.created", "refund.succeeded"):
        await events.emit(conn, type, refund, tenant_id=intent.tenant_id, livemode=intent.livemode)
    return Changed(refund, owes=(posting.reference_id,))


async def _refundable(
    conn: Connection, identity: Identity, request: RefundRequest, *, lock: bool
) -> tuple[IntentRow, int]:
    """The payment and the amount to give back, or the error that refuses the refund."""
    fetch = intents_repo.lock_intent if lock else intents_repo.get_intent
    intent = await fetch(
        conn,
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        intent_id=request.payment_intent,
    )
    if intent is None:
        raise PaymentIntentNotFoundError(request.payment_intent)
    check_action(intent, "refund")
    if intent.provider != "simulator":
        # Money taken by Paystack or Flutterwave goes back through their refund API, which
        # Micro does not call yet: refusing beats a ledger that says it went back when not.
        raise InvalidRequestError(
            f"Refunds of {intent.provider} payments are made in the {intent.provider} "
            "dashboard for now.",
            code="refund_unsupported",
            param="payment_intent",
        )
    # With the intent row locked, concurrent refunds of one payment are counted one by one.
    refundable = intent.amount_received - await refunds_repo.refunded_total(conn, intent.id)
    amount = request.amount or refundable
    if refundable <= 0:
        raise InvalidRequestError(
            f"PaymentIntent {intent.id!r} has already been refunded in full.",
            code="charge_already_refunded",
            param="payment_intent",
        )
    if amount > refundable:
        raise InvalidRequestError(
            f"Refund amount {amount} is greater than the {refundable} left to refund.",
            code="amount_too_large",
            param="amount",
        )
    return intent, amount


async def check_wallet_funds(ledger: LedgerAccounts, debit: WalletDebit) -> None:
    """A payment into a wallet is refunded out of that wallet, which may not go below zero:
    refuse now rather than leave a posting the ledger will never take. (Asked before the
    refund's transaction, so never while a row is locked; the amount only shrinks between
    the two, as other refunds land, so a wallet that covers it here covers the refund.)"""
    account = await ledger.get_account(
        tenant_id=debit.tenant_id, livemode=debit.livemode, code=wallet_code(debit.wallet_id)
    )
    available = int((account or {}).get("balance", {}).get("available", 0))
    if available < debit.amount:
        raise InvalidRequestError(
            f"The wallet holds {available}, less than the {debit.amount} to refund.",
            code="insufficient_funds",
            param="amount",
        )


async def list_refunds(
    pool: Pool, identity: Identity, *, params: ListParams, intent_id: str | None
) -> tuple[list[Refund], bool]:
    async with transaction(pool) as conn:
        rows = await refunds_repo.list_refunds(
            conn,
            tenant_id=identity.tenant_scope,
            livemode=identity.livemode,
            params=params,
            intent_id=intent_id,
        )
    shown, has_more = page(rows, params)
    return [Refund.from_row(row) for row in shown], has_more


async def get_refund(pool: Pool, identity: Identity, refund_id: str) -> Refund:
    async with transaction(pool) as conn:
        row = await refunds_repo.get_refund(
            conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, refund_id=refund_id
        )
    if row is None:
        raise NotFoundError(f"No such refund: {refund_id!r}.", param="id")
    return Refund.from_row(row)
