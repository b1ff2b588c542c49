"""`expand[]`: an expandable field (an id) shown as the object it names, as Stripe's.

Each object has its short list (`INTENT`, `REFUND`, `PAYMENT_METHOD`); a list expands
`data.<field>`. Anything else is refused before the operation runs (`check`: 400
parameter_invalid, param `expand`). The objects are read after the operation's own
transaction, in one read-only one of their own, in the caller's tenant and mode.

An intent's `latest_charge` is the `ch_` id of its latest attempt at a provider; expanded,
it is Stripe's charge as that attempt stands (`charge_of`): charges are not stored apart.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from typing import Any

from services.payments.errors import ExpansionError
from services.payments.providers.simulator import KNOWN_METHODS
from services.payments.repository import customers as customers_repo
from services.payments.repository import intents as intents_repo
from services.payments.repository import refunds as refunds_repo
from services.payments.schemas import (
    Charge,
    ChargeOutcome,
    Customer,
    DeletedCustomer,
    PaymentIntent,
    PaymentMethod,
    Refund,
)
from shared.db import Connection, Pool, transaction
from shared.identity import Identity

INTENT = frozenset({"customer", "payment_method", "latest_charge"})
REFUND = frozenset({"payment_intent"})
PAYMENT_METHOD = frozenset({"customer"})
NOTHING: frozenset[str] = frozenset()


def check(expand: Sequence[str], allowed: Collection[str], *, listing: bool = False) -> list[str]:
    """The fields to expand, or ExpansionError for the first one this object cannot."""
    fields: list[str] = []
    for asked in expand:
        field = asked.removeprefix("data.") if listing else asked
        if field not in allowed or (listing and not asked.startswith("data.")):
            raise ExpansionError(asked)
        if field not in fields:
            fields.append(field)
    return fields


async def intents(
    pool: Pool, identity: Identity, shown: Sequence[PaymentIntent], fields: Sequence[str]
) -> list[dict[str, Any]]:
    bodies = [intent.model_dump() for intent in shown]
    if not fields or not bodies:
        return bodies
    async with transaction(pool) as conn:
        for body in bodies:
            await _expand_intent(conn, identity, body, fields)
    return bodies


async def intent(
    pool: Pool, identity: Identity, shown: PaymentIntent, fields: Sequence[str]
) -> dict[str, Any]:
    [body] = await intents(pool, identity, [shown], fields)
    return body


async def refunds(
    pool: Pool, identity: Identity, shown: Sequence[Refund], fields: Sequence[str]
) -> list[dict[str, Any]]:
    bodies = [refund.model_dump() for refund in shown]
    if "payment_intent" not in fields or not bodies:
        return bodies
    async with transaction(pool) as conn:
        for body in bodies:
            row = await intents_repo.get_intent(
                conn, tenant_id=identity.tenant_scope, livemode=identity.livemode,
                intent_id=body["payment_intent"],
            )  # fmt: skip
            if row is not None:
                body["payment_intent"] = PaymentIntent.from_row(row).model_dump()
    return bodies


async def refund(
    pool: Pool, identity: Identity, shown: Refund, fields: Sequence[str]
) -> dict[str, Any]:
    [body] = await refunds(pool, identity, [shown], fields)
    return body


async def payment_methods(
    pool: Pool, identity: Identity, shown: Sequence[PaymentMethod], fields: Sequence[str]
) -> list[dict[str, Any]]:
    bodies = [method.model_dump() for method in shown]
    if "customer" not in fields or not bodies:
        return bodies
    async with transaction(pool) as conn:
        for body in bodies:
            body["customer"] = await _customer(conn, identity, body["customer"])
    return bodies


async def payment_method(
    pool: Pool, identity: Identity, shown: PaymentMethod, fields: Sequence[str]
) -> dict[str, Any]:
    [body] = await payment_methods(pool, identity, [shown], fields)
    return body


def charge_of(
    intent: PaymentIntent, *, refunded: int, card: dict[str, Any] | None
) -> Charge | None:
    """The charge of the intent's latest attempt, as the intent now stands; None before one."""
    charge_id = intent.latest_charge
    if not isinstance(charge_id, str):
        return None
    error = intent.last_payment_error
    method = intent.payment_method if isinstance(intent.payment_method, str) else None
    if error and intent.status == "requires_payment_method":
        method = (error.get("payment_method") or {}).get("id")
        reason = error.get("decline_code") or error.get("code")
        status, paid, captured, captured_amount = "failed", False, False, 0
        outcome: ChargeOutcome | None = ChargeOutcome(
            network_status="declined_by_network", reason=reason,
            seller_message="The bank did not return any further details with this decline.",
            type="issuer_declined",
        )  # fmt: skip
    elif intent.status in ("succeeded", "requires_capture", "canceled"):
        captured = intent.status == "succeeded"
        captured_amount = intent.amount_received
        status, paid, error = "succeeded", True, None
        outcome = ChargeOutcome(
            network_status="approved_by_network", reason=None,
            seller_message="Payment complete.", type="authorized",
        )  # fmt: skip
    else:  # requires_action, processing: the attempt has no answer yet
        status, paid, captured, captured_amount, outcome = "pending", False, False, 0, None
    # A partial capture gives the rest back, and a released authorization all of it (as
    # Stripe counts them in amount_refunded).
    released = (
        intent.amount - captured_amount if paid and intent.status != "requires_capture" else 0
    )
    amount_refunded = refunded + released
    return Charge(
        id=charge_id,
        amount=intent.amount,
        amount_captured=captured_amount,
        amount_refunded=amount_refunded,
        captured=captured,
        currency=intent.currency,
        customer=intent.customer if isinstance(intent.customer, str) else None,
        failure_code=error.get("code") if error else None,
        failure_message=error.get("message") if error else None,
        livemode=intent.livemode,
        metadata=intent.metadata,
        outcome=outcome,
        paid=paid,
        payment_intent=intent.id,
        payment_method=method,
        payment_method_details={"type": "card", "card": card} if card else None,
        refunded=paid and amount_refunded >= intent.amount,
        status=status,
        created=intent.created,
    )


# -- internals ---------------------------------------------------------------------------------


async def _expand_intent(
    conn: Connection, identity: Identity, body: dict[str, Any], fields: Sequence[str]
) -> None:
    intent = PaymentIntent.model_validate(body)
    for field in fields:
        if field == "customer":
            body["customer"] = await _customer(conn, identity, intent.customer)
        elif field == "payment_method" and isinstance(intent.payment_method, str):
            method = await _method(conn, identity, intent.payment_method)
            body["payment_method"] = method.model_dump() if method else intent.payment_method
        elif field == "latest_charge":
            body["latest_charge"] = await _charge(conn, identity, intent)


async def _charge(
    conn: Connection, identity: Identity, intent: PaymentIntent
) -> dict[str, Any] | None:
    if intent.latest_charge is None:
        return None
    charge = charge_of(intent, refunded=0, card=None)
    assert charge is not None
    refunded = await refunds_repo.refunded_total(conn, intent.id)
    method = await _method(conn, identity, charge.payment_method) if charge.payment_method else None
    card = method.card.model_dump() if method else None
    full = charge_of(intent, refunded=refunded, card=card)
    return full.model_dump() if full else None


async def _method(conn: Connection, identity: Identity, method_id: str) -> PaymentMethod | None:
    if method_id in KNOWN_METHODS:
        return PaymentMethod.of_test_method(
            method_id, livemode=identity.livemode, created=int(time.time())
        )
    row = await customers_repo.get_method(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, method_id=method_id
    )
    return None if row is None else PaymentMethod.from_row(row)


async def _customer(conn: Connection, identity: Identity, customer: Any) -> Any:
    if not isinstance(customer, str):
        return customer
    row = await customers_repo.get_customer(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, customer_id=customer
    )
    if row is None:
        return customer
    if row.deleted_at is not None:
        return DeletedCustomer(id=row.id).model_dump()
    return Customer.from_row(row).model_dump()
