"""Paystack over its documented REST API (Bearer secret key; amounts in subunits).

- Take money: `POST /transaction/initialize` with our intent id as `reference` gives an
  `authorization_url` (the hosted page: `requires_action`); `GET /transaction/verify/{ref}`
  says how it ended.
- Send money: `POST /transferrecipient` (type nuban), then `POST /transfer` with our payout
  id as `reference`; `GET /transfer/verify/{ref}`.
"""

from __future__ import annotations

from typing import Any

from services.payments.providers.base import (
    BankAccount,
    Outcome,
    Payer,
    TransferOutcome,
    intent_of,
)
from services.payments.providers.http import ProviderClient, ProviderRequestError, ProviderTimeout

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
        except ProviderTimeout:
            return Outcome("pending")
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
        if status >= 400:
            return TransferOutcome("pending")
        return _transfer_outcome(_data(answer))


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
