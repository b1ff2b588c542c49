"""Refunds: full or partial, never more than was received; each owes the ledger its reverse."""

from __future__ import annotations

from services.payments import repository
from services.payments.errors import PaymentIntentNotFoundError, UnexpectedStateError
from services.payments.schemas import Refund, RefundRequest
from services.payments.service.intents import balance_code, clearing_code
from shared.db import Connection
from shared.errors import InvalidRequestError, NotFoundError
from shared.identity import Identity
from shared.ids import new_id
from shared.pagination import ListParams, page


async def create_refund(conn: Connection, identity: Identity, request: RefundRequest) -> Refund:
    intent = await repository.lock_intent(
        conn,
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        intent_id=request.payment_intent,
    )
    if intent is None:
        raise PaymentIntentNotFoundError(request.payment_intent)
    if intent["status"] != "succeeded":
        raise UnexpectedStateError(intent["id"], intent["status"], "refund")
    # The intent row is locked: concurrent refunds of one payment are counted one by one.
    refundable = intent["amount_received"] - await repository.refunded_total(conn, intent["id"])
    amount = request.amount or refundable
    if refundable <= 0:
        raise InvalidRequestError(
            f"PaymentIntent {intent['id']!r} has already been refunded in full.",
            code="charge_already_refunded",
            param="payment_intent",
        )
    if amount > refundable:
        raise InvalidRequestError(
            f"Refund amount {amount} is greater than the {refundable} left to refund.",
            code="amount_too_large",
            param="amount",
        )
    refund_id = new_id("re")
    row = await repository.insert_refund(
        conn,
        refund_id=refund_id,
        tenant_id=intent["tenant_id"],
        livemode=intent["livemode"],
        intent_id=intent["id"],
        amount=amount,
        currency=intent["currency"],
        reason=request.reason,
    )
    currency = intent["currency"]
    await repository.insert_outbox(
        conn,
        outbox_id=new_id("obx"),
        tenant_id=intent["tenant_id"],
        livemode=intent["livemode"],
        reference_id=refund_id,
        body={
            "reference_id": refund_id,
            "description": f"Refund {refund_id} of {intent['id']}",
            "metadata": {"payment_intent": intent["id"], "refund": refund_id},
            "entries": [
                {"account_id": balance_code(currency), "amount": amount, "direction": "debit"},
                {"account_id": clearing_code(currency), "amount": amount, "direction": "credit"},
            ],
        },
    )
    return Refund.from_row(row)


async def list_refunds(
    conn: Connection, identity: Identity, *, params: ListParams, intent_id: str | None
) -> tuple[list[Refund], bool]:
    rows = await repository.list_refunds(
        conn,
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        params=params,
        intent_id=intent_id,
    )
    shown, has_more = page(rows, params)
    return [Refund.from_row(row) for row in shown], has_more


async def get_refund(conn: Connection, identity: Identity, refund_id: str) -> Refund:
    row = await repository.get_refund(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, refund_id=refund_id
    )
    if row is None:
        raise NotFoundError(f"No such refund: {refund_id!r}.", param="id")
    return Refund.from_row(row)
