"""Paystack over its documented REST API (Bearer secret key; amounts in subunits).

- Take money: `POST /transaction/initialize` with our intent id as `reference` gives an
  `authorization_url` (the hosted page: `requires_action`); `GET /transaction/verify/{ref}`
  says how it ended.
- Send money: `POST /transferrecipient` (type nuban), then `POST /transfer` with our payout
  id as `reference`; `GET /transfer/verify/{ref}`.
- Give money back: `POST /refund` {transaction: our attempt's reference, amount, currency,
  merchant_note: our refund id} answers the refund (`pending`, `processing`, `processed` or
  `failed`) with its id; `GET /refund/{id}` says how it stands; the `refund.pending`,
  `refund.processing`, `refund.processed` and `refund.failed` webhooks carry its id and the
  transaction's reference.
- Settlement: `GET /transaction`, `GET /refund`, `GET /transfer` with `from`/`to` and
  `perPage`/`page` (`meta.pageCount` says how many pages).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.payments.providers.base import (
    BankAccount,
    Outcome,
    Payer,
    RefundOutcome,
    Settled,
    SettledStatus,
    TransferOutcome,
    intent_of,
)
from services.payments.providers.http import (
    ProviderClient,
    ProviderRateLimited,
    ProviderRequestError,
    ProviderTimeout,
    ask_refund,
)
from services.payments.providers.listing import PER_PAGE, every_page, iso, when

_PAID = frozenset({"success"})
_FAILED = frozenset({"failed", "reversed"})
_TRANSFER_FAILED = frozenset({"failed", "abandoned", "blocked", "rejected", "reversed"})


class Paystack:
    name = "paystack"
    hosted = True
    in_process = False

    def __init__(self, client: ProviderClient) -> None:
        self.client = client

    async def authorize(
        self, *, reference: str, amount: int, currency: str, payment_method: str | None,
        payer: Payer,
    ) -> Outcome:  # fmt: skip
        body = {
            "email": payer.email,
            "amount": amount,  # Paystack's subunits are our minor units
            "currency": currency.upper(),
            "reference": reference,
            "callback_url": payer.return_url,
            "metadata": {"payment_intent": intent_of(reference)},
        }
        try:
            status, answer = await self.client.call("POST", "/transaction/initialize", body=body)
        except ProviderTimeout as lost:
            return Outcome("pending", message=str(lost))
        if status == 429:
            raise ProviderRateLimited(f"Paystack is rate limiting us: {_message(answer)}")
        data = _data(answer)
        if status >= 400 or not answer.get("status") or not data.get("authorization_url"):
            raise ProviderRequestError(f"Paystack refused the payment: {_message(answer)}")
        return Outcome("action_required", redirect_url=str(data["authorization_url"]))

    async def verify(self, *, reference: str, amount: int, currency: str) -> Outcome:
        try:
            status, answer = await self.client.call("GET", f"/transaction/verify/{reference}")
        except ProviderTimeout:
            return Outcome("pending")
        if status in (400, 404) and not answer.get("status"):
            # Paystack has no such transaction: the customer never reached its page.
            return Outcome("declined", decline_code="processing_error", message=_message(answer))
        return charge_outcome(_data(answer))

    async def transfer(
        self, *, payout_id: str, amount: int, currency: str, destination: BankAccount,
        description: str | None,
    ) -> TransferOutcome:  # fmt: skip
        recipient = {
            "type": "nuban",
            "name": destination.account_name or "Payout recipient",
            "account_number": destination.account_number,
            "bank_code": destination.bank_code,
            "currency": currency.upper(),
        }
        # Creating a recipient moves no money: a timeout here fails the payout cleanly.
        try:
            status, answer = await self.client.call("POST", "/transferrecipient", body=recipient)
        except ProviderTimeout:
            raise ProviderRequestError(
                "Paystack did not answer while registering the recipient; try again.",
                code="provider_unavailable",
                status=503,
            ) from None
        code = _data(answer).get("recipient_code")
        if status >= 400 or not code:
            raise ProviderRequestError(
                f"Paystack refused the recipient: {_message(answer)}", param="destination"
            )
        body = {
            "source": "balance",
            "amount": amount,
            "currency": currency.upper(),
            "recipient": code,
            "reference": payout_id,
            "reason": description or f"Payout {payout_id}",
        }
        try:
            status, answer = await self.client.call("POST", "/transfer", body=body)
        except ProviderTimeout:
            return TransferOutcome("pending")
        if status >= 400:
            # Refused outright (e.g. a balance too low): no money left.
            return TransferOutcome(
                "failed", failure_code="provider_declined", failure_message=_message(answer)
            )
        return _transfer_outcome(_data(answer))

    async def verify_transfer(self, *, payout_id: str, provider_id: str | None) -> TransferOutcome:
        try:
            status, answer = await self.client.call("GET", f"/transfer/verify/{payout_id}")
        except ProviderTimeout:
            return TransferOutcome("pending")
        if status == 404 and not answer.get("status"):
            # No transfer under our reference: the create never reached Paystack. (The
            # reconciler asks only after `reconcile_after`, so one on its way is not taken
            # for one that never arrived.)
            return TransferOutcome(
                "failed",
                failure_code="could_not_process",
                failure_message="Paystack has no transfer with this reference: the request to "
                "create it never reached Paystack, and no money was sent.",
            )
        if status >= 400:
            return TransferOutcome("pending")
        return _transfer_outcome(_data(answer))

    # -- refunds (issue #16) ------------------------------------------------------------------

    async def refund(
        self, *, refund_id: str, reference: str, amount: int, currency: str
    ) -> RefundOutcome:
        body = {
            "transaction": reference,
            "amount": amount,
            "currency": currency.upper(),
            "merchant_note": f"Micro refund {refund_id}",
        }
        try:
            status, answer = await self.client.call("POST", "/refund", body=body)
        except ProviderTimeout:
            return RefundOutcome("pending")
        if status >= 400 or not answer.get("status"):
            # Refused outright (already refunded in full, a balance too low, a transaction
            # it does not have): no refund exists, so it fails with Paystack's reason.
            return RefundOutcome("failed", failure_reason="declined", message=_message(answer))
        return refund_outcome(_data(answer))

    async def verify_refund(
        self, *, refund_id: str, reference: str, provider_id: str | None
    ) -> RefundOutcome:
        if provider_id is None:
            # The create call's answer was lost before Paystack named the refund: its
            # webhook (which carries the transaction's reference) settles it instead.
            return RefundOutcome("pending")
        return await ask_refund(self.client, f"/refund/{provider_id}", provider_id, refund_outcome)

    # -- settlement (issue #16) ---------------------------------------------------------------

    async def list_settled(self, *, start: datetime, end: datetime) -> list[Settled]:
        period = {"from": iso(start), "to": iso(end), "perPage": str(PER_PAGE)}

        async def listed(path: str, what: str) -> list[dict[str, Any]]:
            async def fetch(page: int) -> tuple[int, dict[str, Any]]:
                return await self.client.call("GET", path, params={**period, "page": str(page)})

            return await every_page(fetch, name="Paystack", what=what, more=_more)

        transactions = await listed("/transaction", "transactions")
        refunds = await listed("/refund", "refunds")
        transfers = await listed("/transfer", "transfers")
        # A refund names its transaction by Paystack's id (or as an object): our reference
        # is the transaction's.
        references = {str(t.get("id")): str(t.get("reference") or "") for t in transactions}
        found = [_settled_charge(t) for t in transactions]
        found += [_settled_refund(r, references) for r in refunds]
        found += [_settled_transfer(t) for t in transfers]
        return found


_REFUND_STATES = {"processed": "succeeded", "failed": "failed"}


def refund_outcome(data: dict[str, Any]) -> RefundOutcome:
    """A refund object (API answer or webhook `data`) as an outcome."""
    state = str(data.get("status", "")).lower()
    provider_id = str(data["id"]) if data.get("id") is not None else None
    kind = _REFUND_STATES.get(state, "pending")
    if kind == "failed":
        return RefundOutcome(
            "failed",
            provider_id=provider_id,
            failure_reason="declined",
            message=str(data.get("message") or data.get("merchant_note") or "Refund failed."),
        )
    return RefundOutcome("succeeded" if kind == "succeeded" else "pending", provider_id=provider_id)


def _more(answer: dict[str, Any], page: int) -> bool:
    meta = answer.get("meta")
    count = meta.get("pageCount") if isinstance(meta, dict) else None
    return isinstance(count, int) and page < count


_SETTLED: dict[str, SettledStatus] = {
    "success": "succeeded",
    "processed": "succeeded",
    "failed": "failed",
    "reversed": "failed",
}


def _state(value: Any) -> SettledStatus:
    return _SETTLED.get(str(value or "").lower(), "pending")


def _currency(value: Any) -> str | None:
    return str(value).lower() if value else None


def _settled_charge(data: dict[str, Any]) -> Settled:
    return Settled(
        "charge",
        str(data.get("reference") or "") or None,
        str(data["id"]) if data.get("id") is not None else None,
        _int(data.get("amount")),
        _currency(data.get("currency")),
        _state(data.get("status")),
        when(data.get("createdAt") or data.get("created_at")),
    )


def _settled_refund(data: dict[str, Any], references: dict[str, str]) -> Settled:
    transaction = data.get("transaction")
    if isinstance(transaction, dict):
        reference = str(transaction.get("reference") or "") or None
    else:
        reference = references.get(str(transaction)) or None
    return Settled(
        "refund",
        reference,
        str(data["id"]) if data.get("id") is not None else None,
        _int(data.get("amount")),
        _currency(data.get("currency")),
        _state(data.get("status")),
        when(data.get("createdAt") or data.get("created_at")),
    )


def _settled_transfer(data: dict[str, Any]) -> Settled:
    state = str(data.get("status") or "").lower()
    return Settled(
        "transfer",
        str(data.get("reference") or "") or None,
        str(data.get("transfer_code") or data.get("id") or "") or None,
        _int(data.get("amount")),
        _currency(data.get("currency")),
        "succeeded" if state == "success" else "failed" if state in _TRANSFER_FAILED else "pending",
        when(data.get("createdAt") or data.get("created_at")),
    )


def transfer_outcome(data: dict[str, Any]) -> TransferOutcome:
    """A transfer object (API answer or webhook `data`) as an outcome."""
    return _transfer_outcome(data)


def _transfer_outcome(data: dict[str, Any]) -> TransferOutcome:
    state = str(data.get("status", ""))
    provider_id = str(data["transfer_code"]) if data.get("transfer_code") else None
    if state == "success":
        return TransferOutcome("paid", provider_id=provider_id)
    if state in _TRANSFER_FAILED:
        return TransferOutcome(
            "failed",
            failure_code="reversed" if state == "reversed" else "provider_declined",
            failure_message=str(data.get("reason") or data.get("message") or f"Transfer {state}."),
            provider_id=provider_id,
            reversed=state == "reversed",
        )
    return TransferOutcome("pending", provider_id=provider_id)


def charge_outcome(data: dict[str, Any]) -> Outcome:
    """A `charge.success` webhook's `data` as an outcome."""
    if str(data.get("status", "")) in _PAID:
        return Outcome(
            "authorized",
            amount=_int(data.get("amount")),
            currency=str(data.get("currency", "")).lower() or None,
        )
    if str(data.get("status", "")) in _FAILED:
        return Outcome(
            "declined",
            decline_code="generic_decline",
            message=str(data.get("gateway_response") or "The payment failed."),
        )
    return Outcome("pending")


def _data(answer: dict[str, Any]) -> dict[str, Any]:
    data = answer.get("data")
    return data if isinstance(data, dict) else {}


def _message(answer: dict[str, Any]) -> str:
    return str(answer.get("message") or "no reason given")


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and int(value) == value else None
    except (TypeError, ValueError):
        return None
