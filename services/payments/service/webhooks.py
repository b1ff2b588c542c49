"""Inbound provider webhooks (re-checking an intent or payout with its provider is in
`service/steps.py`: it calls out, so it runs in steps).

A webhook is trusted only once its signature checks out against the account its URL names
(`/webhooks/{provider}` the platform's, `/webhooks/{provider}/{tenant}` that tenant's, in
whichever mode's credentials signed it): Paystack signs the raw body with HMAC-SHA512 of the
secret key (`x-paystack-signature`); Flutterwave echoes the configured secret hash
(`verif-hash`). Then it is recorded once by its event id (a replay changes nothing), and
applied through the same rules as every other provider answer, which tolerate any order.

A refund's webhook (Paystack `refund.pending|processing|processed|failed`, Flutterwave
`refund.completed`) names the refund by the provider's own id; when Micro never learned it
(the create call's answer was lost), by our refund id echoed in Flutterwave's comments, or
by the transaction's reference and the amount (Paystack): always within the provider
account the payment went through.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.payments.providers import flutterwave, paystack
from services.payments.providers.base import Outcome, RefundOutcome, TransferOutcome, intent_of
from services.payments.repository import intents as intents_repo
from services.payments.repository import payouts as payouts_repo
from services.payments.repository import providers as providers_repo
from services.payments.repository import refunds as refunds_repo
from services.payments.service import intents, payouts, refunds
from services.payments.service.changes import Changed
from services.payments.service.provider_accounts import Account, ProviderSource
from shared.db import Connection
from shared.errors import AuthenticationError, InvalidRequestError, NotFoundError

log = logging.getLogger("micro.payments.webhooks")


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    event_id: str
    type: str
    reference: str | None
    charge: Outcome | None = None
    transfer: TransferOutcome | None = None
    refund: RefundOutcome | None = None
    # Where a refund's webhook may name it besides the provider's id: our own refund id
    # (Flutterwave echoes the comments we sent), the refunded amount (Paystack names the
    # transaction, for a refund whose create answer was lost).
    refund_id: str | None = None
    amount: int | None = None


async def receive(
    conn: Connection,
    source: ProviderSource,
    *,
    provider: str,
    tenant_id: str | None,
    body: bytes,
    headers: Mapping[str, str],
) -> Changed[str]:
    """The webhook applied: what it did (its outcome, recorded with the event), and the
    postings the change owes the ledger."""
    if provider not in ("paystack", "flutterwave"):
        raise NotFoundError(f"No such provider: {provider!r}.", param="provider")
    if tenant_id is not None:
        accounts = await source.tenant_accounts(conn, tenant_id=tenant_id, provider=provider)
    else:
        # The platform's test and live accounts: the one whose secret signed it says the mode.
        accounts = source.platform_accounts(provider)
    account = signed_by(provider, accounts, body, headers)
    event = parse_event(provider, body)
    key = tenant_id or "platform"
    # Events are told apart per account: one tenant's (or the platform's) test and live
    # accounts are two, so news signed by the wrong mode's secret never shadows the right one.
    book = f"{tenant_id or 'platform'}/{_mode(account.livemode)}"
    fresh = await providers_repo.record_provider_event(
        conn,
        provider=provider,
        account=book,
        event_id=event.event_id,
        event_type=event.type,
        reference=event.reference,
        payload=body.decode(),
    )
    if not fresh:
        return Changed("duplicate")
    received = await _apply(conn, provider, key, account, event)
    await providers_repo.set_event_outcome(
        conn, provider=provider, account=book, event_id=event.event_id, outcome=received.value
    )
    return received


def _mode(livemode: bool | None) -> str:
    return "live" if livemode else "test"


def signed_by(
    provider: str, accounts: list[Account], body: bytes, headers: Mapping[str, str]
) -> Account:
    if provider == "paystack":
        given = headers.get("x-paystack-signature", "").strip().lower()
        for account in accounts:
            expected = hmac.new(account.secret_key.encode(), body, hashlib.sha512).hexdigest()
            if given and hmac.compare_digest(expected, given):
                return account
    else:
        given = headers.get("verif-hash", "")
        for account in accounts:
            secret = account.webhook_secret
            if given and secret and hmac.compare_digest(secret.encode(), given.encode()):
                return account
    raise AuthenticationError(
        f"The {provider} webhook signature is missing or does not match.",
        code="invalid_signature",
    )


def parse_event(provider: str, body: bytes) -> ProviderEvent:
    if b"\\u0000" in body or b"\x00" in body:
        # PostgreSQL cannot keep a NUL in the recorded payload; no real event carries one.
        raise InvalidRequestError("The webhook body contains a NUL character.")
    try:
        payload = json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequestError("The webhook body is not JSON.", code="invalid_json") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
        raise InvalidRequestError("The webhook body has no event.", param="event")
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    assert isinstance(data, dict)
    kind = str(payload["event"])
    if provider == "paystack":
        return _paystack_event(kind, data, body)
    return _flutterwave_event(kind, data)


def _paystack_event(kind: str, data: dict[str, Any], body: bytes) -> ProviderEvent:
    # Paystack's events carry no id of their own: the object's id per event type stands in
    # (and a redelivery sends the same bytes, hashed when there is no object id).
    if data.get("id") is not None:
        event_id = f"{kind}:{data['id']}"
    else:
        event_id = hashlib.sha256(body).hexdigest()
    reference = str(data["reference"]) if data.get("reference") is not None else None
    if kind.startswith("charge.") and kind.count(".") == 1:
        return ProviderEvent(event_id, kind, reference, charge=paystack.charge_outcome(data))
    if kind in _PAYSTACK_REFUNDS:
        # The event's name is the refund's state; it names the transaction by reference.
        refund = paystack.refund_outcome({**data, "status": _PAYSTACK_REFUNDS[kind]})
        transaction = data.get("transaction_reference")
        return ProviderEvent(
            event_id, kind, str(transaction) if transaction is not None else None,
            refund=refund, amount=_whole(data.get("amount")),
        )  # fmt: skip
    if kind in _PAYSTACK_TRANSFERS:
        # The event's name is the transfer's fate, whatever `data.status` says.
        transfer = paystack.transfer_outcome({**data, "status": _PAYSTACK_TRANSFERS[kind]})
        return ProviderEvent(event_id, kind, reference, transfer=transfer)
    return ProviderEvent(event_id, kind, reference)


_PAYSTACK_REFUNDS = {
    "refund.pending": "pending",
    "refund.processing": "processing",
    "refund.processed": "processed",
    "refund.failed": "failed",
}
_PAYSTACK_TRANSFERS = {
    "transfer.success": "success",
    "transfer.failed": "failed",
    "transfer.reversed": "reversed",
}


def _flutterwave_event(kind: str, data: dict[str, Any]) -> ProviderEvent:
    event_id = f"{kind}:{data.get('id')}:{data.get('status')}"
    if kind == "charge.completed":
        reference = str(data["tx_ref"]) if data.get("tx_ref") is not None else None
        return ProviderEvent(event_id, kind, reference, charge=flutterwave.charge_outcome(data))
    if kind == "transfer.completed":
        reference = str(data["reference"]) if data.get("reference") is not None else None
        return ProviderEvent(event_id, kind, reference, transfer=flutterwave.transfer_outcome(data))
    if kind == "refund.completed":
        refund = flutterwave.refund_outcome(data)
        ours = flutterwave.refund_of_comment(data.get("comments"))
        return ProviderEvent(event_id, kind, ours, refund=refund, refund_id=ours)
    return ProviderEvent(event_id, kind, None)


def _whole(value: Any) -> int | None:
    try:
        return int(value) if value is not None and int(value) == Decimal(str(value)) else None
    except (TypeError, ValueError, ArithmeticError):
        return None


async def _apply_refund(
    conn: Connection, provider: str, key: str, account: Account, event: ProviderEvent
) -> Changed[str]:
    assert event.refund is not None
    row = await refunds_repo.lock_refund_for_account(
        conn, provider=provider, account=key, livemode=account.livemode,
        provider_refund_id=event.refund.provider_id, refund_id=event.refund_id,
        reference=event.reference, amount=event.amount,
    )  # fmt: skip
    if row is None:
        return Changed("unknown_reference")
    settled, done = await refunds.settle(conn, row, event.refund)
    return Changed(done, owes=settled.owes)


async def _apply(
    conn: Connection, provider: str, key: str, account: Account, event: ProviderEvent
) -> Changed[str]:
    if event.refund is not None:
        return await _apply_refund(conn, provider, key, account, event)
    if event.reference is None or (event.charge is None and event.transfer is None):
        return Changed("ignored_type")
    if event.charge is not None:
        row = await intents_repo.lock_intent_for_account(
            conn, intent_id=intent_of(event.reference), provider=provider, account=key,
            livemode=account.livemode,
        )  # fmt: skip
        if row is None:
            return Changed("unknown_reference")
        result, done = await intents.settle(conn, row, event.charge, reference=event.reference)
        if done == "ignored_canceled" and event.charge.kind == "authorized":
            # Money was taken for an intent that is already canceled: someone must refund it.
            log.warning(
                "payment succeeded at the provider for a canceled intent",
                extra={"payment_intent": row.id, "provider": provider},
            )
        return Changed(done, owes=result.owes)
    assert event.transfer is not None
    payout = await payouts_repo.lock_payout_for_account(
        conn, payout_id=event.reference, provider=provider, account=key, livemode=account.livemode
    )
    if payout is None:
        return Changed("unknown_reference")
    settled, done = await payouts.settle(conn, payout, event.transfer)
    return Changed(done, owes=settled.owes)
