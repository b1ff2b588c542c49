"""Payment intents: Stripe's state machine over a provider (DESIGN §6).

    requires_payment_method -> requires_confirmation -> (requires_action) ->
    succeeded | requires_capture -> succeeded;   any of the unfinished ones -> canceled.

A declined confirmation leaves the intent in requires_payment_method with
`last_payment_error` and answers 402 (the state change is committed all the same). A
success writes the ledger posting it owes into the outbox, in the same transaction.
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import asyncpg

from services.payments import repository
from services.payments.errors import (
    CardDeclinedError,
    PaymentIntentNotFoundError,
    UnexpectedStateError,
)
from services.payments.providers.base import Provider
from services.payments.schemas import (
    CancelIntentRequest,
    CaptureIntentRequest,
    ConfirmIntentRequest,
    CreateIntentRequest,
    PaymentIntent,
    UpdateIntentRequest,
)
from shared.db import Connection
from shared.errors import InvalidRequestError, MicroError
from shared.identity import Identity
from shared.ids import new_id
from shared.pagination import ListParams, page

CONFIRMABLE = frozenset({"requires_payment_method", "requires_confirmation"})
UPDATABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_action"})
CANCELABLE = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"}
)


@dataclass(slots=True)
class Result:
    intent: PaymentIntent
    # Committed, then raised: a decline changes the intent and is still an error to answer.
    error: MicroError | None = None
    owes_ledger: bool = False


def clearing_code(currency: str) -> str:
    return f"payments.clearing.{currency}"


def balance_code(currency: str) -> str:
    return f"payments.balance.{currency}"


async def create_intent(
    conn: Connection,
    identity: Identity,
    request: CreateIntentRequest,
    provider: Provider,
    *,
    public_url: str = "",
) -> Result:
    row = await repository.insert_intent(
        conn,
        id=new_id("pi"),
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        amount=request.amount,
        currency=request.currency,
        status="requires_confirmation" if request.payment_method else "requires_payment_method",
        capture_method=request.capture_method,
        provider=request.provider,
        payment_method=request.payment_method,
        description=request.description,
        metadata=request.metadata,
        receipt_email=request.receipt_email,
        wallet_id=request.wallet_id,
    )
    if request.confirm:
        return await _confirm(conn, row, provider, payment_method=None, public_url=public_url)
    return Result(PaymentIntent.from_row(row))


async def update_intent(
    conn: Connection, identity: Identity, intent_id: str, request: UpdateIntentRequest
) -> Result:
    row = await _locked(conn, identity, intent_id)
    if row["status"] not in UPDATABLE:
        raise UnexpectedStateError(intent_id, row["status"], "update")
    changes: dict[str, Any] = request.model_dump(exclude_unset=True, exclude_none=True)
    if "payment_method" in changes:
        changes["status"] = "requires_confirmation"
        changes["next_action"] = None
    if not changes:
        return Result(PaymentIntent.from_row(row))
    return Result(
        PaymentIntent.from_row(await repository.update_intent(conn, intent_id, **changes))
    )


async def authenticate(conn: Connection, intent_id: str, *, token: str, approve: bool) -> Result:
    """The customer's answer on the simulator's authentication page (3-D Secure's stand-in)."""
    row = await repository.lock_intent_by_id(conn, intent_id)
    expected = _action_token(row["next_action"]) if row is not None else None
    if row is None or expected is None or not hmac.compare_digest(expected, token):
        raise PaymentIntentNotFoundError(intent_id)
    if row["status"] != "requires_action":
        raise UnexpectedStateError(intent_id, row["status"], "authenticate")
    if not approve:
        updated = await repository.update_intent(
            conn,
            intent_id,
            status="requires_payment_method",
            payment_method=None,
            next_action=None,
            last_payment_error={
                "type": "invalid_request_error",
                "code": "payment_intent_authentication_failure",
                "message": "The customer failed to authenticate the payment.",
                "payment_method": {"id": row["payment_method"]},
            },
        )
        return Result(PaymentIntent.from_row(updated))
    if row["capture_method"] == "manual":
        updated = await repository.update_intent(
            conn,
            intent_id,
            status="requires_capture",
            amount_capturable=row["amount"],
            next_action=None,
        )
        return Result(PaymentIntent.from_row(updated))
    return await _succeed(conn, row, row["amount"])


def _action_token(next_action: str | None) -> str | None:
    if not next_action:
        return None
    url = json.loads(next_action).get("redirect_to_url", {}).get("url", "")
    tokens = parse_qs(urlparse(url).query).get("token")
    return tokens[0] if tokens else None


async def confirm_intent(
    conn: Connection,
    identity: Identity,
    intent_id: str,
    request: ConfirmIntentRequest,
    *,
    provider: Provider,
    public_url: str = "",
) -> Result:
    row = await _locked(conn, identity, intent_id)
    return await _confirm(
        conn, row, provider, payment_method=request.payment_method, public_url=public_url
    )


async def cancel_intent(
    conn: Connection, identity: Identity, intent_id: str, request: CancelIntentRequest
) -> Result:
    row = await _locked(conn, identity, intent_id)
    if row["status"] not in CANCELABLE:
        raise UnexpectedStateError(intent_id, row["status"], "cancel")
    updated = await repository.update_intent(
        conn,
        intent_id,
        status="canceled",
        cancellation_reason=request.cancellation_reason,
        canceled_at=datetime.now(UTC),
        amount_capturable=0,
        next_action=None,
    )
    return Result(PaymentIntent.from_row(updated))


async def capture_intent(
    conn: Connection, identity: Identity, intent_id: str, request: CaptureIntentRequest
) -> Result:
    row = await _locked(conn, identity, intent_id)
    if row["status"] != "requires_capture":
        raise UnexpectedStateError(intent_id, row["status"], "capture")
    amount = request.amount_to_capture or row["amount_capturable"]
    if amount > row["amount_capturable"]:
        raise InvalidRequestError(
            f"amount_to_capture {amount} is more than the {row['amount_capturable']} "
            "that can be captured.",
            code="amount_too_large",
            param="amount_to_capture",
        )
    return await _succeed(conn, row, amount)


async def get_intent(conn: Connection, identity: Identity, intent_id: str) -> PaymentIntent:
    row = await repository.get_payment_intent(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, intent_id=intent_id
    )
    if row is None:
        raise PaymentIntentNotFoundError(intent_id)
    return PaymentIntent.from_row(row)


async def list_intents(
    conn: Connection, identity: Identity, *, params: ListParams
) -> tuple[list[PaymentIntent], bool]:
    rows = await repository.list_payment_intents(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, params=params
    )
    shown, has_more = page(rows, params)
    return [PaymentIntent.from_row(row) for row in shown], has_more


async def _locked(conn: Connection, identity: Identity, intent_id: str) -> asyncpg.Record:
    row = await repository.lock_intent(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, intent_id=intent_id
    )
    if row is None:
        raise PaymentIntentNotFoundError(intent_id)
    return row


async def _confirm(
    conn: Connection,
    row: asyncpg.Record,
    provider: Provider,
    *,
    payment_method: str | None,
    public_url: str = "",
) -> Result:
    intent_id = row["id"]
    if row["status"] not in CONFIRMABLE:
        raise UnexpectedStateError(intent_id, row["status"], "confirm")
    method = payment_method or row["payment_method"]
    if method is None:
        raise InvalidRequestError(
            "You cannot confirm this PaymentIntent because it has no payment method; pass "
            "payment_method (for example pm_card_visa).",
            code="parameter_missing",
            param="payment_method",
        )
    outcome = await provider.authorize(
        intent_id=intent_id, amount=row["amount"], currency=row["currency"], payment_method=method
    )
    if outcome.kind == "declined":
        error = {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": outcome.decline_code,
            "message": outcome.message,
            "payment_method": {"id": method},
        }
        updated = await repository.update_intent(
            conn,
            intent_id,
            status="requires_payment_method",
            payment_method=None,
            last_payment_error=error,
            next_action=None,
        )
        intent = PaymentIntent.from_row(updated)
        return Result(
            intent,
            error=CardDeclinedError(
                outcome.message or "Your card was declined.",
                decline_code=outcome.decline_code or "generic_decline",
                intent=intent.model_dump(),
            ),
        )
    if outcome.kind == "action_required":
        token = secrets.token_urlsafe(16)
        updated = await repository.update_intent(
            conn,
            intent_id,
            status="requires_action",
            payment_method=method,
            last_payment_error=None,
            next_action={
                "type": "redirect_to_url",
                "redirect_to_url": {"url": f"{public_url}{outcome.redirect_url}?token={token}"},
            },
        )
        return Result(PaymentIntent.from_row(updated))
    if row["capture_method"] == "manual":
        updated = await repository.update_intent(
            conn,
            intent_id,
            status="requires_capture",
            payment_method=method,
            amount_capturable=row["amount"],
            last_payment_error=None,
            next_action=None,
        )
        return Result(PaymentIntent.from_row(updated))
    return await _succeed(conn, row, row["amount"], payment_method=method)


async def _succeed(
    conn: Connection, row: asyncpg.Record, amount: int, *, payment_method: str | None = None
) -> Result:
    intent_id, currency = row["id"], row["currency"]
    updated = await repository.update_intent(
        conn,
        intent_id,
        payment_method=payment_method or row["payment_method"],
        status="succeeded",
        amount_received=amount,
        amount_capturable=0,
        last_payment_error=None,
        next_action=None,
    )
    # Money held at the provider for the tenant: clearing (asset) against what is owed to
    # the tenant (liability). The reference makes the ledger take it exactly once.
    await repository.insert_outbox(
        conn,
        outbox_id=new_id("obx"),
        tenant_id=row["tenant_id"],
        livemode=row["livemode"],
        reference_id=intent_id,
        body={
            "reference_id": intent_id,
            "description": f"Payment {intent_id}",
            "metadata": {"payment_intent": intent_id},
            "entries": [
                {"account_id": clearing_code(currency), "amount": amount, "direction": "debit"},
                {"account_id": balance_code(currency), "amount": amount, "direction": "credit"},
            ],
        },
    )
    return Result(PaymentIntent.from_row(updated), owes_ledger=True)
