"""Flutterwave over its documented v3 REST API (Bearer secret key; amounts in MAJOR units).

- Take money: `POST /v3/payments` with our intent id as `tx_ref` gives a hosted `link`
  (`requires_action`); `GET /v3/transactions/verify_by_reference?tx_ref=` says how it ended.
- Send money: `POST /v3/transfers` with our payout id as `reference`; `GET /v3/transfers/{id}`.

Amounts cross the wire as exact decimal strings in major units (5000 usd -> "50.00", 5000 jpy
-> "5000") and come back through `Decimal`: never a float.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from services.payments.providers.base import (
    BankAccount,
    Outcome,
    Payer,
    TransferOutcome,
    intent_of,
)
from services.payments.providers.http import ProviderClient, ProviderRequestError, ProviderTimeout
from shared.money import minor_unit_exponent, to_major_string


class Flutterwave:
    name = "flutterwave"
    hosted = True
    in_process = False

    def __init__(self, client: ProviderClient) -> None:
        self.client = client

    async def authorize(
        self, *, reference: str, amount: int, currency: str, payment_method: str | None,
        payer: Payer,
    ) -> Outcome:  # fmt: skip
        body = {
            "tx_ref": reference,
            "amount": to_major_string(amount, currency),
            "currency": currency.upper(),
            "redirect_url": payer.return_url,
            "customer": {"email": payer.email},
            "meta": {"payment_intent": intent_of(reference)},
        }
        try:
            status, answer = await self.client.call("POST", "/v3/payments", body=body)
        except ProviderTimeout:
            return Outcome("pending")
        link = _data(answer).get("link")
        if status >= 400 or answer.get("status") != "success" or not link:
            raise ProviderRequestError(f"Flutterwave refused the payment: {_message(answer)}")
        return Outcome("action_required", redirect_url=str(link))

    async def verify(self, *, reference: str, amount: int, currency: str) -> Outcome:
        try:
            status, answer = await self.client.call(
                "GET", "/v3/transactions/verify_by_reference", params={"tx_ref": reference}
            )
        except ProviderTimeout:
            return Outcome("pending")
        if status in (400, 404) and answer.get("status") == "error":
            return Outcome("declined", decline_code="processing_error", message=_message(answer))
        return charge_outcome(_data(answer))

    async def transfer(
        self, *, payout_id: str, amount: int, currency: str, destination: BankAccount,
        description: str | None,
    ) -> TransferOutcome:  # fmt: skip
        body = {
            "account_bank": destination.bank_code,
            "account_number": destination.account_number,
            "amount": to_major_string(amount, currency),
            "currency": currency.upper(),
            "debit_currency": currency.upper(),
            "narration": description or f"Payout {payout_id}",
            "reference": payout_id,
        }
        if destination.account_name:
            body["beneficiary_name"] = destination.account_name
        try:
            status, answer = await self.client.call("POST", "/v3/transfers", body=body)
        except ProviderTimeout:
            return TransferOutcome("pending")
        if status >= 400 or answer.get("status") != "success":
            return TransferOutcome(
                "failed", failure_code="provider_declined", failure_message=_message(answer)
            )
        return transfer_outcome(_data(answer))

    async def verify_transfer(self, *, payout_id: str, provider_id: str | None) -> TransferOutcome:
        if provider_id is None:
            # The create call timed out before Flutterwave named the transfer: its webhook
            # (which carries our reference) settles it instead.
            return TransferOutcome("pending")
        try:
            status, answer = await self.client.call("GET", f"/v3/transfers/{provider_id}")
        except ProviderTimeout:
            return TransferOutcome("pending")
        if status >= 400:
            return TransferOutcome("pending")
        return transfer_outcome(_data(answer))


def charge_outcome(data: dict[str, Any]) -> Outcome:
    """A transaction object (verify answer or `charge.completed` data) as an outcome."""
    state = str(data.get("status", "")).lower()
    currency = str(data.get("currency", "")).lower() or None
    if state == "successful":
        return Outcome(
            "authorized", amount=to_minor(data.get("amount"), currency), currency=currency
        )
    if state == "failed":
        return Outcome(
            "declined",
            decline_code="generic_decline",
            message=str(data.get("processor_response") or "The payment failed."),
        )
    return Outcome("pending")


def transfer_outcome(data: dict[str, Any]) -> TransferOutcome:
    state = str(data.get("status", "")).upper()
    provider_id = str(data["id"]) if data.get("id") is not None else None
    if state == "SUCCESSFUL":
        return TransferOutcome("paid", provider_id=provider_id)
    if state == "FAILED":
        return TransferOutcome(
            "failed",
            failure_code="provider_declined",
            failure_message=str(data.get("complete_message") or "The transfer failed."),
            provider_id=provider_id,
        )
    return TransferOutcome("pending", provider_id=provider_id)


def to_minor(value: Any, currency: str | None) -> int | None:
    """Major units as Flutterwave writes them (a number or a string) -> minor units, exactly;
    None when it is not a whole number of minor units."""
    if value is None or currency is None or isinstance(value, float | bool):
        return None
    try:
        minor = Decimal(str(value)).scaleb(minor_unit_exponent(currency))
    except (InvalidOperation, ValueError):
        return None
    return int(minor) if minor == minor.to_integral_value() else None


def _data(answer: dict[str, Any]) -> dict[str, Any]:
    data = answer.get("data")
    return data if isinstance(data, dict) else {}


def _message(answer: dict[str, Any]) -> str:
    return str(answer.get("message") or "no reason given")
