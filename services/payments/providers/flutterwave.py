"""Flutterwave over its documented v3 REST API (Bearer secret key; amounts in MAJOR units).

- Take money: `POST /v3/payments` with our intent id as `tx_ref` gives a hosted `link`
  (`requires_action`); `GET /v3/transactions/verify_by_reference?tx_ref=` says how it ended.
- Send money: `POST /v3/transfers` with our payout id as `reference`; `GET /v3/transfers/{id}`,
  or, when the create call's answer was lost before Flutterwave named the transfer,
  `GET /v3/transfers?reference=` (the list, filtered by our reference). A transfer that list
  does not have never reached Flutterwave: the payout fails (`could_not_process`). The
  reconciler asks only about payouts pending for `reconcile_after` seconds, so a create still
  on its way is not taken for one that never arrived.
- Give money back: the transaction's own id is found by our reference
  (`GET /v3/transactions/verify_by_reference`), then `POST /v3/transactions/{id}/refund`
  {amount, comments: our refund id} answers the refund with its id; `GET /v3/refunds/{id}`
  says how it stands (`completed`, `failed`, else pending); the `refund.completed` webhook
  carries its id and our comments.
- Settlement: `GET /v3/transactions`, `GET /v3/refunds` (both with `from`/`to` dates) and
  `GET /v3/transfers`, paged by `page` (`meta.page_info.total_pages`).

Amounts cross the wire as exact decimal strings in major units (5000 usd -> "50.00", 5000 jpy
-> "5000") and come back through `Decimal`: never a float.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
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
from services.payments.providers.listing import every_page, when
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
        except ProviderTimeout as lost:
            return Outcome("pending", message=str(lost))
        if status == 429:
            raise ProviderRateLimited(f"Flutterwave is rate limiting us: {_message(answer)}")
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
            # The create call timed out before Flutterwave named the transfer: look for it by
            # our own reference.
            return await self._transfer_by_reference(payout_id)
        try:
            status, answer = await self.client.call("GET", f"/v3/transfers/{provider_id}")
        except ProviderTimeout:
            return TransferOutcome("pending")
        if status >= 400:
            return TransferOutcome("pending")
        return transfer_outcome(_data(answer))

    async def _transfer_by_reference(self, reference: str) -> TransferOutcome:
        try:
            status, answer = await self.client.call(
                "GET", "/v3/transfers", params={"reference": reference}
            )
        except ProviderTimeout:
            return TransferOutcome("pending")
        listed = answer.get("data")
        if status >= 400 or answer.get("status") != "success" or not isinstance(listed, list):
            return TransferOutcome("pending")  # no answer to go by: ask again next round
        # The filter is Flutterwave's; the match is checked here all the same.
        found = [t for t in listed if isinstance(t, dict) and str(t.get("reference")) == reference]
        if not found:
            return TransferOutcome(
                "failed",
                failure_code="could_not_process",
                failure_message="Flutterwave has no transfer with this reference: the request "
                "to create it never reached Flutterwave, and no money was sent.",
            )
        return transfer_outcome(found[0])

    # -- refunds (issue #16) ------------------------------------------------------------------

    async def refund(
        self, *, refund_id: str, reference: str, amount: int, currency: str
    ) -> RefundOutcome:
        # Nothing is refunded before the second call: a timeout here fails cleanly.
        try:
            status, answer = await self.client.call(
                "GET", "/v3/transactions/verify_by_reference", params={"tx_ref": reference}
            )
        except ProviderTimeout:
            raise ProviderRequestError(
                "Flutterwave did not answer while finding the payment; try again.",
                code="provider_unavailable",
                status=503,
            ) from None
        transaction = _data(answer).get("id")
        if status >= 400 or transaction is None:
            return RefundOutcome("failed", failure_reason="declined", message=_message(answer))
        body = {"amount": to_major_string(amount, currency), "comments": refund_comment(refund_id)}
        try:
            status, answer = await self.client.call(
                "POST", f"/v3/transactions/{transaction}/refund", body=body
            )
        except ProviderTimeout:
            return RefundOutcome("pending")
        if status >= 400 or answer.get("status") != "success":
            return RefundOutcome("failed", failure_reason="declined", message=_message(answer))
        return refund_outcome(_data(answer))

    async def verify_refund(
        self, *, refund_id: str, reference: str, provider_id: str | None
    ) -> RefundOutcome:
        if provider_id is None:
            # The create call's answer was lost: its webhook (our comments) settles it.
            return RefundOutcome("pending")
        return await ask_refund(
            self.client, f"/v3/refunds/{provider_id}", provider_id, refund_outcome
        )

    # -- settlement (issue #16) ---------------------------------------------------------------

    async def list_settled(self, *, start: datetime, end: datetime) -> list[Settled]:
        # Flutterwave filters by whole days (YYYY-MM-DD, both ends included): the caller
        # keeps what falls in its period.
        period = {"from": start.date().isoformat(), "to": (end - timedelta(microseconds=1))
                  .date().isoformat()}  # fmt: skip

        async def listed(path: str, what: str, query: dict[str, str]) -> list[dict[str, Any]]:
            async def fetch(page: int) -> tuple[int, dict[str, Any]]:
                return await self.client.call("GET", path, params={**query, "page": str(page)})

            return await every_page(fetch, name="Flutterwave", what=what, more=_more)

        transactions = await listed("/v3/transactions", "transactions", period)
        refunds = await listed("/v3/refunds", "refunds", period)
        # Its transfer list takes no dates: read every page, keep the period's.
        transfers = await listed("/v3/transfers", "transfers", {})
        # A refund names its transaction by Flutterwave's id only, and has no currency.
        by_id = {str(t.get("id")): t for t in transactions}
        found = [_settled_charge(t) for t in transactions]
        found += [_settled_refund(r, by_id.get(str(r.get("transaction_id")))) for r in refunds]
        found += [
            settled
            for settled in map(_settled_transfer, transfers)
            if settled.created is None or start <= settled.created < end
        ]
        return found


def refund_comment(refund_id: str) -> str:
    """Our refund id as the refund's comments, which its webhook carries back."""
    return f"Micro refund {refund_id}"


def refund_of_comment(comments: Any) -> str | None:
    text = str(comments or "")
    return text.removeprefix("Micro refund ") if text.startswith("Micro refund re_") else None


def refund_outcome(data: dict[str, Any]) -> RefundOutcome:
    """A refund object (API answer or webhook `data`) as an outcome."""
    state = str(data.get("status", "")).lower()
    provider_id = str(data["id"]) if data.get("id") is not None else None
    if state in ("completed", "successful"):
        return RefundOutcome("succeeded", provider_id=provider_id)
    if state == "failed":
        return RefundOutcome(
            "failed",
            provider_id=provider_id,
            failure_reason="declined",
            message="Flutterwave could not refund the payment.",
        )
    return RefundOutcome("pending", provider_id=provider_id)


def _more(answer: dict[str, Any], page: int) -> bool:
    meta = answer.get("meta")
    info = meta.get("page_info") if isinstance(meta, dict) else None
    total = info.get("total_pages") if isinstance(info, dict) else None
    return isinstance(total, int) and page < total


_SETTLED: dict[str, SettledStatus] = {
    "successful": "succeeded",
    "completed": "succeeded",
    "completed-mpgs": "succeeded",
    "failed": "failed",
}


def _state(value: Any) -> SettledStatus:
    return _SETTLED.get(str(value or "").lower(), "pending")


def _id(value: Any) -> str | None:
    return str(value) if value is not None and value != "" else None


def _settled_charge(data: dict[str, Any]) -> Settled:
    currency = str(data.get("currency") or "").lower() or None
    return Settled(
        "charge",
        _id(data.get("tx_ref")),
        _id(data.get("id")),
        to_minor(data.get("amount"), currency),
        currency,
        _state(data.get("status")),
        when(data.get("created_at")),
    )


def _settled_refund(data: dict[str, Any], transaction: dict[str, Any] | None) -> Settled:
    currency = str((transaction or {}).get("currency") or "").lower() or None
    return Settled(
        "refund",
        _id((transaction or {}).get("tx_ref")),
        _id(data.get("id")),
        to_minor(data.get("amount_refunded"), currency),
        currency,
        _state(data.get("status")),
        when(data.get("created_at")),
    )


def _settled_transfer(data: dict[str, Any]) -> Settled:
    currency = str(data.get("currency") or "").lower() or None
    return Settled(
        "transfer",
        _id(data.get("reference")),
        _id(data.get("id")),
        to_minor(data.get("amount"), currency),
        currency,
        _state(data.get("status")),
        when(data.get("created_at")),
    )


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
