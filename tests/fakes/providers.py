"""Paystack and Flutterwave as small local HTTP servers speaking their documented formats.

Each fake keeps its transactions and transfers by reference (and its refunds by its own
id), checks the Bearer secret key,
and can be told to decline, to answer slowly, to hold an answer past the client's timeout,
or to complete a payment the way a customer on the hosted page would. It also builds the
webhooks the real provider sends, signed as the real one signs them (Paystack: hex
HMAC-SHA512 of the raw body with the secret key in `x-paystack-signature`; Flutterwave: the
secret hash in `verif-hash`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from cli.stack.ports import free_port
from shared.money import minor_unit_exponent

_ids = itertools.count(4_099_260_516)


@dataclass
class Charge:
    reference: str
    amount: int  # minor units
    currency: str  # lowercase
    email: str
    callback_url: str
    status: str = (
        "pending"  # paystack: ongoing|success|failed; flutterwave: pending|successful|failed
    )
    id: int = field(default_factory=lambda: next(_ids))
    # When the provider says it was made (its lists filter by it); tests may move it.
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Transfer:
    reference: str
    amount: int
    currency: str
    account_number: str
    bank_code: str
    status: str
    id: int = field(default_factory=lambda: next(_ids))
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class FakeRefund:
    """A refund at the fake: `transaction` is the refunded charge's reference."""

    transaction: str
    amount: int  # minor units
    currency: str  # lowercase
    note: str  # paystack merchant_note / flutterwave comments
    # paystack: pending|processing|processed|failed; flutterwave: pending|completed|failed
    status: str
    id: int = field(default_factory=lambda: next(_ids))


@dataclass
class FakeProvider:
    kind: str  # "paystack" | "flutterwave"
    secret_key: str
    secret_hash: str = "fake-flutterwave-secret-hash"
    url: str = ""
    charges: dict[str, Charge] = field(default_factory=dict)
    transfers: dict[str, Transfer] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    # Operations ("initialize", "verify", "transfer", "verify_transfer") that hang, then
    # do nothing.
    slow: set[str] = field(default_factory=set)
    delay: float = 5.0
    # Operations that succeed at the provider but whose answer is lost (the client times out).
    lost_answers: set[str] = field(default_factory=set)
    # Seconds every answer takes once the operation has acted (a slow provider that still
    # answers within the client's timeout).
    latency: float = 0.0
    # While set and not yet opened, every answer waits for it once the operation has acted: a
    # provider slow for exactly as long as the test needs, however loaded the machine.
    gate: asyncio.Event | None = None
    # What a new transfer becomes at once.
    transfer_status: str = "success"  # paystack words; flutterwave maps them
    refuse_initialize: bool = False
    # -- refunds (issue #16): by the provider's id. What a new refund becomes at once
    # ("pending" or "processed", paystack words; flutterwave maps them), and whether the
    # provider refuses new refunds outright (a 400, as for a balance too low).
    refunds: dict[str, FakeRefund] = field(default_factory=dict)
    refund_status: str = "pending"
    refuse_refunds: bool = False
    # Settlement lists: the most items one page holds (Paystack also honours a smaller
    # `perPage`; Flutterwave's pages are this size).
    page_size: int = 10
    # -- payouts helper (issue #16): a provider that cannot serve, and a mode's keys ---------
    # Operations answered 503 at once, having done nothing (an outage at the provider).
    unavailable: set[str] = field(default_factory=set)
    # The account's other mode: its secret key (accepted as well) and Flutterwave hash.
    live_secret_key: str | None = None
    live_secret_hash: str | None = None
    # The Authorization header of every request, in order (which mode's key was used).
    authorizations: list[str] = field(default_factory=list)
    # -- failover (issue #16): operations answered with an HTTP status and nothing done
    # (500/503: the provider failing; 429: rate limited), each for its next `count` calls.
    failing: dict[str, tuple[int, int]] = field(default_factory=dict)

    def fail(self, operation: str, status: int, *, count: int = 1_000_000) -> None:
        """Answer `operation` with `status` and do nothing, `count` times."""
        self.failing[operation] = (status, count)

    # -- what a customer does on the hosted page --------------------------------------------

    def complete(self, reference: str, *, paid: bool = True) -> Charge:
        charge = self.charges[reference]
        if self.kind == "paystack":
            charge.status = "success" if paid else "failed"
        else:
            charge.status = "successful" if paid else "failed"
        return charge

    def settle_transfer(self, reference: str, status: str) -> Transfer:
        transfer = self.transfers[reference]
        transfer.status = status
        return transfer

    # -- refunds (issue #16) ----------------------------------------------------------------

    def settle_refund(self, refund_id: str | int, status: str) -> FakeRefund:
        """The provider finishes a refund: "processed" or "failed" (paystack words)."""
        refund = self.refunds[str(refund_id)]
        refund.status = self._refund_word(status)
        return refund

    def only_refund(self) -> FakeRefund:
        [refund] = self.refunds.values()
        return refund

    def _refund_word(self, status: str) -> str:
        if self.kind == "paystack":
            return status
        return {"processed": "completed", "failed": "failed"}.get(status, "pending")

    def refund_webhook(
        self, refund_id: str | int, status: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The webhook of a refund in `status` (paystack words; its current one if None)."""
        refund = self.refunds[str(refund_id)]
        state = self._refund_word(status) if status else refund.status
        if self.kind == "paystack":
            body = {
                "event": f"refund.{state}",
                "data": {
                    "status": state, "transaction_reference": refund.transaction,
                    "refund_reference": None, "amount": refund.amount,
                    "currency": refund.currency.upper(), "processor": "mastercard",
                    "customer": {"first_name": "Ada", "last_name": "Obi",
                                 "email": "ada@example.com"},
                    "integration": 100073, "domain": "test", "id": str(refund.id),
                },
            }  # fmt: skip
            return self.sign(json.dumps(body).encode())
        body = {
            "event": "refund.completed",
            "event.type": "Refund",
            "data": {
                "id": refund.id, "AmountRefunded": "__AMOUNT__", "status": state,
                "FlwRef": f"URF_{refund.id}", "destination": "payment_source",
                "comments": refund.note, "settlement_id": "NEW",
                "meta": "{\"source\":\"availablebalance\"}",
                "createdAt": "2026-11-22T20:00:00.000Z", "updatedAt": "2026-11-22T20:00:00.000Z",
                "TransactionId": self.charges[refund.transaction].id,
            },
        }  # fmt: skip
        major = _major(refund.amount, refund.currency)
        return self.sign(json.dumps(body).replace('"__AMOUNT__"', major).encode())

    # -- webhooks, as the provider sends them -----------------------------------------------

    def charge_webhook(
        self, reference: str, *, amount: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        charge = self.charges[reference]
        if self.kind == "paystack":
            body = {
                "event": "charge.success",
                "data": {
                    "id": charge.id, "domain": "test", "status": charge.status,
                    "reference": reference, "amount": amount or charge.amount,
                    "message": None, "gateway_response": "Successful" if charge.status == "success"
                    else "Declined", "paid_at": "2026-11-22T20:00:00.000Z",
                    "channel": "card", "currency": charge.currency.upper(),
                    "customer": {"email": charge.email, "customer_code": "CUS_fake"},
                    "metadata": {"payment_intent": reference},
                },
            }  # fmt: skip
            return self.sign(json.dumps(body).encode())
        body = {
            "event": "charge.completed",
            "data": {
                "id": charge.id, "tx_ref": reference, "flw_ref": f"FLW-MOCK-{charge.id}",
                "amount": "__AMOUNT__", "currency": charge.currency.upper(),
                "charged_amount": "__AMOUNT__", "status": charge.status,
                "processor_response": "Approved by Financial Institution"
                if charge.status == "successful" else "Declined",
                "payment_type": "card", "customer": {"email": charge.email},
            },
            "event.type": "CARD_TRANSACTION",
        }  # fmt: skip
        major = _major(amount or charge.amount, charge.currency)
        return self.sign(json.dumps(body).replace('"__AMOUNT__"', major).encode())

    def transfer_webhook(
        self, reference: str, status: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        transfer = self.transfers[reference]
        state = status or transfer.status
        if self.kind == "paystack":
            body = {
                "event": f"transfer.{state}",
                "data": {
                    "amount": transfer.amount, "currency": transfer.currency.upper(),
                    "domain": "test", "id": transfer.id, "reason": "Payout",
                    "reference": reference, "source": "balance", "status": state,
                    "transfer_code": f"TRF_{transfer.id}",
                    "recipient": {"details": {"account_number": transfer.account_number,
                                              "bank_code": transfer.bank_code}},
                },
            }  # fmt: skip
            return self.sign(json.dumps(body).encode())
        body = {
            "event": "transfer.completed",
            "event.type": "Transfer",
            "data": {
                "id": transfer.id, "account_number": transfer.account_number,
                "bank_name": "ACCESS BANK NIGERIA", "currency": transfer.currency.upper(),
                "amount": "__AMOUNT__", "fee": 10.75, "status": state, "reference": reference,
                "complete_message": "Successful" if state == "SUCCESSFUL" else "Account closed",
                "narration": "Payout", "requires_approval": 0, "is_approved": 1,
            },
        }  # fmt: skip
        major = _major(transfer.amount, transfer.currency)
        return self.sign(json.dumps(body).replace('"__AMOUNT__"', major).encode())

    def sign(self, body: bytes, *, secret: str | None = None) -> tuple[bytes, dict[str, str]]:
        headers = {"Content-Type": "application/json"}
        if self.kind == "paystack":
            key = (secret or self.secret_key).encode()
            headers["x-paystack-signature"] = hmac.new(key, body, hashlib.sha512).hexdigest()
        else:
            headers["verif-hash"] = secret or self.secret_hash
        return body, headers

    # -- the HTTP API -----------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        if self.kind == "paystack":
            app.router.add_post("/transaction/initialize", self._ps_initialize)
            app.router.add_get("/transaction/verify/{reference}", self._ps_verify)
            app.router.add_post("/transferrecipient", self._ps_recipient)
            app.router.add_post("/transfer", self._ps_transfer)
            app.router.add_get("/transfer/verify/{reference}", self._ps_verify_transfer)
            app.router.add_post("/refund", self._ps_refund)
            app.router.add_get("/refund/{id}", self._ps_get_refund)
            app.router.add_get("/transaction", self._ps_list_transactions)
            app.router.add_get("/refund", self._ps_list_refunds)
            app.router.add_get("/transfer", self._ps_list_transfers)
        else:
            app.router.add_post("/v3/payments", self._fw_payments)
            app.router.add_get("/v3/transactions/verify_by_reference", self._fw_verify)
            app.router.add_post("/v3/transfers", self._fw_transfer)
            app.router.add_get("/v3/transfers/{id}", self._fw_get_transfer)
            app.router.add_post("/v3/transactions/{id}/refund", self._fw_refund)
            app.router.add_get("/v3/refunds/{id}", self._fw_get_refund)
            app.router.add_get("/v3/transactions", self._fw_list_transactions)
            app.router.add_get("/v3/refunds", self._fw_list_refunds)
            app.router.add_get("/v3/transfers", self._fw_list_transfers)
        return app

    async def _enter(self, request: web.Request, operation: str) -> dict[str, Any] | web.Response:
        body: dict[str, Any] = {}
        if request.can_read_body:
            body = json.loads(await request.read(), parse_float=Decimal)
        self.requests.append((operation, request.path_qs, body))
        self.authorizations.append(request.headers.get("Authorization", ""))
        keys = {self.secret_key, self.live_secret_key} - {None}
        if request.headers.get("Authorization") not in {f"Bearer {k}" for k in keys}:
            if self.kind == "paystack":
                return web.json_response({"status": False, "message": "Invalid key"}, status=401)
            return web.json_response(
                {"status": "error", "message": "Invalid authorization key", "data": None},
                status=401,
            )
        if operation in self.unavailable:
            return web.json_response(
                {"status": "error", "message": "Service Unavailable"}, status=503
            )
        if operation in self.failing:
            status, left = self.failing[operation]
            if left <= 1:
                del self.failing[operation]
            else:
                self.failing[operation] = (status, left - 1)
            return self._failed(status)
        if operation in self.slow:
            # Hangs past the client's patience and then does nothing at all.
            await asyncio.sleep(self.delay)
            return web.json_response({"status": "error", "message": "Gateway timeout"}, status=504)
        return body

    def _failed(self, status: int) -> web.Response:
        message = "Too many requests" if status == 429 else "Service unavailable"
        body: dict[str, Any] = (
            {"status": False, "message": message}
            if self.kind == "paystack"
            else {"status": "error", "message": message, "data": None}
        )
        headers = {"Retry-After": "1"} if status == 429 else None
        return web.json_response(body, status=status, headers=headers)

    async def _respond(
        self, operation: str, answer: dict[str, Any], status: int = 200
    ) -> web.Response:
        if operation in self.lost_answers:
            await asyncio.sleep(self.delay)  # it happened; the answer never arrives in time
        elif self.latency:
            await asyncio.sleep(self.latency)
        if self.gate is not None:
            await self.gate.wait()
        return web.Response(status=status, text=_dumps(answer), content_type="application/json")

    # Paystack ---------------------------------------------------------------------------------

    async def _ps_initialize(self, request: web.Request) -> web.Response:
        body = await self._enter(request, "initialize")
        if isinstance(body, web.Response):
            return body
        if self.refuse_initialize or not body.get("email"):
            return web.json_response(
                {"status": False, "message": "Invalid Email Address Passed"}, status=400
            )
        reference = str(body["reference"])
        if reference in self.charges:
            return web.json_response(
                {"status": False, "message": "Duplicate Transaction Reference"}, status=400
            )
        self.charges[reference] = Charge(
            reference, int(body["amount"]), str(body["currency"]).lower(), body["email"],
            str(body.get("callback_url", "")), status="ongoing",
        )  # fmt: skip
        access = f"acc_{reference[-8:]}"
        return await self._respond("initialize", {
            "status": True, "message": "Authorization URL created",
            "data": {"authorization_url": f"{self.url}/checkout/{access}",
                     "access_code": access, "reference": reference},
        })  # fmt: skip

    async def _ps_verify(self, request: web.Request) -> web.Response:
        body = await self._enter(request, "verify")
        if isinstance(body, web.Response):
            return body
        charge = self.charges.get(request.match_info["reference"])
        if charge is None:
            return web.json_response(
                {"status": False, "message": "Transaction reference not found"}, status=400
            )
        return await self._respond("verify", {
            "status": True, "message": "Verification successful",
            "data": {"id": charge.id, "domain": "test", "status": charge.status,
                     "reference": charge.reference, "amount": charge.amount,
                     "gateway_response": "Successful" if charge.status == "success" else "Declined",
                     "currency": charge.currency.upper(), "channel": "card"},
        })  # fmt: skip

    async def _ps_recipient(self, request: web.Request) -> web.Response:
        body = await self._enter(request, "recipient")
        if isinstance(body, web.Response):
            return body
        if body.get("type") != "nuban" or not body.get("account_number"):
            return web.json_response({"status": False, "message": "Invalid type"}, status=400)
        return web.json_response({
            "status": True, "message": "Transfer recipient created successfully",
            "data": {"active": True, "currency": body.get("currency", "NGN"),
                     "recipient_code": f"RCP_{body['account_number']}", "type": "nuban",
                     "details": {"account_number": body["account_number"],
                                 "bank_code": body["bank_code"]}},
        }, status=201)  # fmt: skip

    async def _ps_transfer(self, request: web.Request) -> web.Response:
        body = await self._enter(request, "transfer")
        if isinstance(body, web.Response):
            return body
        reference = str(body["reference"])
        transfer = Transfer(
            reference, int(body["amount"]), str(body.get("currency", "NGN")).lower(),
            str(body["recipient"]).removeprefix("RCP_"), "058", self.transfer_status,
        )  # fmt: skip
        self.transfers[reference] = transfer
        return await self._respond("transfer", {
            "status": True, "message": "Transfer has been queued",
            "data": self._ps_transfer_object(transfer),
        })  # fmt: skip

    async def _ps_verify_transfer(self, request: web.Request) -> web.Response:
        body = await self._enter(request, "verify_transfer")
        if isinstance(body, web.Response):
            return body
        transfer = self.transfers.get(request.match_info["reference"])
        if transfer is None:
            return web.json_response({"status": False, "message": "Transfer not found"}, status=404)
        return await self._respond("verify_transfer", {
            "status": True, "message": "Transfer retrieved",
            "data": self._ps_transfer_object(transfer),
        })  # fmt: skip

    @staticmethod
    def _ps_transfer_object(transfer: Transfer) -> dict[str, Any]:
        return {
            "integration": 100073, "domain": "test", "amount": transfer.amount,
            "currency": transfer.currency.upper(), "source": "balance", "reason": "Payout",
            "reference": transfer.reference, "status": transfer.status,
            "transfer_code": f"TRF_{transfer.id}", "id": transfer.id,
        }  # fmt: skip

    # Flutterwave ------------------------------------------------------------------------------

    async def _fw_payments(self, request: web.Request) -> web.Response:
        body = await self._enter(request, "initialize")
        if isinstance(body, web.Response):
            return body
        email = (body.get("customer") or {}).get("email")
        if self.refuse_initialize or not email:
            return web.json_response(
                {"status": "error", "message": "customer.email is required", "data": None},
                status=400,
            )
        reference = str(body["tx_ref"])
        currency = str(body["currency"]).lower()
        self.charges[reference] = Charge(
            reference, _minor(body["amount"], currency), currency, email,
            str(body.get("redirect_url", "")),
        )  # fmt: skip
        return await self._respond("initialize", {
            "status": "success", "message": "Hosted Link",
            "data": {"link": f"{self.url}/v3/hosted/pay/{reference[-8:]}"},
        })  # fmt: skip

    async def _fw_verify(self, request: web.Request) -> web.Response:
        body = await self._enter(request, "verify")
        if isinstance(body, web.Response):
            return body
        charge = self.charges.get(request.query.get("tx_ref", ""))
        if charge is None:
            return web.json_response(
                {"status": "error", "message": "No transaction was found for this id",
                 "data": None}, status=400,
            )  # fmt: skip
        return await self._respond("verify", {
            "status": "success", "message": "Transaction fetched successfully",
            "data": {"id": charge.id, "tx_ref": charge.reference,
                     "flw_ref": f"FLW-MOCK-{charge.id}",
                     "amount": _raw(_major(charge.amount, charge.currency)),
                     "currency": charge.currency.upper(), "status": charge.status,
                     "processor_response": "Approved" if charge.status == "successful"
                     else "Declined"},
        })  # fmt: skip

    async def _fw_transfer(self, request: web.Request) -> web.Response:
        body = await self._enter(request, "transfer")
        if isinstance(body, web.Response):
            return body
        currency = str(body["currency"]).lower()
        status = {"success": "SUCCESSFUL", "failed": "FAILED"}.get(self.transfer_status, "NEW")
        transfer = Transfer(
            str(body["reference"]), _minor(body["amount"], currency), currency,
            str(body["account_number"]), str(body["account_bank"]), status,
        )  # fmt: skip
        self.transfers[transfer.reference] = transfer
        return await self._respond("transfer", {
            "status": "success", "message": "Transfer Queued Successfully",
            "data": self._fw_transfer_object(transfer),
        })  # fmt: skip

    async def _fw_get_transfer(self, request: web.Request) -> web.Response:
        body = await self._enter(request, "verify_transfer")
        if isinstance(body, web.Response):
            return body
        found = [t for t in self.transfers.values() if str(t.id) == request.match_info["id"]]
        if not found:
            return web.json_response(
                {"status": "error", "message": "Transfer not found", "data": None}, status=404
            )
        return await self._respond("verify_transfer", {
            "status": "success", "message": "Transfer fetched",
            "data": self._fw_transfer_object(found[0]),
        })  # fmt: skip

    @staticmethod
    def _fw_transfer_object(transfer: Transfer) -> dict[str, Any]:
        return {
            "id": transfer.id, "account_number": transfer.account_number,
            "bank_code": transfer.bank_code, "full_name": "Ada Obi",
            "currency": transfer.currency.upper(), "debit_currency": transfer.currency.upper(),
            "amount": _raw(_major(transfer.amount, transfer.currency)), "fee": 10.75,
            "status": transfer.status, "reference": transfer.reference,
            "narration": "Payout", "complete_message": "", "requires_approval": 0,
            "is_approved": 1, "bank_name": "ACCESS BANK NIGERIA",
        }  # fmt: skip

    # Refunds (issue #16) ----------------------------------------------------------------------

    def _refundable(self, charge: Charge) -> int:
        taken = sum(
            r.amount for r in self.refunds.values()
            if r.transaction == charge.reference and r.status != "failed"
        )  # fmt: skip
        return charge.amount - taken

    async def _ps_refund(self, request: web.Request) -> web.Response:
        body = await self._enter(request, "refund")
        if isinstance(body, web.Response):
            return body
        wanted = str(body.get("transaction", ""))
        charge = self.charges.get(wanted) or next(
            (c for c in self.charges.values() if str(c.id) == wanted), None
        )
        if charge is None or charge.status != "success":
            return web.json_response(
                {"status": False, "message": "Transaction not found"}, status=404
            )
        amount = int(body.get("amount") or self._refundable(charge))
        if self.refuse_refunds or amount > self._refundable(charge):
            return web.json_response(
                {"status": False, "message": "Refund amount cannot be more than the "
                 "unrefunded balance"}, status=400,
            )  # fmt: skip
        refund = FakeRefund(
            charge.reference, amount, charge.currency, str(body.get("merchant_note", "")),
            self.refund_status,
        )  # fmt: skip
        self.refunds[str(refund.id)] = refund
        return await self._respond("refund", {
            "status": True, "message": "Refund has been queued for processing",
            "data": self._ps_refund_object(refund, charge),
        })  # fmt: skip

    async def _ps_get_refund(self, request: web.Request) -> web.Response:
        body = await self._enter(request, "verify_refund")
        if isinstance(body, web.Response):
            return body
        refund = self.refunds.get(request.match_info["id"])
        if refund is None:
            return web.json_response({"status": False, "message": "Refund not found"}, status=404)
        return await self._respond("verify_refund", {
            "status": True, "message": "Refund retrieved",
            "data": self._ps_refund_object(refund, self.charges[refund.transaction]),
        })  # fmt: skip

    @staticmethod
    def _ps_refund_object(refund: FakeRefund, charge: Charge) -> dict[str, Any]:
        return {
            "transaction": {"id": charge.id, "domain": "test", "reference": charge.reference,
                            "amount": charge.amount, "channel": "card",
                            "currency": charge.currency.upper()},
            "integration": 100073, "deducted_amount": 0, "channel": None,
            "merchant_note": refund.note, "customer_note": "Refund",
            "status": refund.status, "refunded_by": "ada@example.com", "expected_at":
            "2026-11-29T20:00:00.000Z", "currency": refund.currency.upper(), "domain": "test",
            "amount": refund.amount, "fully_deducted": False, "id": refund.id,
            "createdAt": "2026-11-22T20:00:00.000Z", "updatedAt": "2026-11-22T20:00:00.000Z",
        }  # fmt: skip

    async def _fw_refund(self, request: web.Request) -> web.Response:
        body = await self._enter(request, "refund")
        if isinstance(body, web.Response):
            return body
        charge = next(
            (c for c in self.charges.values() if str(c.id) == request.match_info["id"]), None
        )
        if charge is None or charge.status != "successful":
            return web.json_response(
                {"status": "error", "message": "Transaction not found", "data": None},
                status=404,
            )
        amount = (
            _minor(body["amount"], charge.currency) if body.get("amount") is not None
            else self._refundable(charge)
        )  # fmt: skip
        if self.refuse_refunds or amount > self._refundable(charge):
            return web.json_response(
                {"status": "error", "message": "Refund amount is greater than the "
                 "transaction amount", "data": None}, status=400,
            )  # fmt: skip
        refund = FakeRefund(
            charge.reference, amount, charge.currency, str(body.get("comments", "")),
            self._refund_word(self.refund_status),
        )  # fmt: skip
        self.refunds[str(refund.id)] = refund
        return await self._respond("refund", {
            "status": "success", "message": "Transaction refund initiated",
            "data": self._fw_refund_object(refund, charge),
        })  # fmt: skip

    async def _fw_get_refund(self, request: web.Request) -> web.Response:
        body = await self._enter(request, "verify_refund")
        if isinstance(body, web.Response):
            return body
        refund = self.refunds.get(request.match_info["id"])
        if refund is None:
            return web.json_response(
                {"status": "error", "message": "Refund not found", "data": None}, status=404
            )
        return await self._respond("verify_refund", {
            "status": "success", "message": "Refund fetched",
            "data": self._fw_refund_object(refund, self.charges[refund.transaction]),
        })  # fmt: skip

    @staticmethod
    def _fw_refund_object(refund: FakeRefund, charge: Charge) -> dict[str, Any]:
        return {
            "id": refund.id, "account_id": 73362, "tx_id": charge.id,
            "flw_ref": f"URF_{refund.id}", "wallet_id": 74639,
            "amount_refunded": _raw(_major(refund.amount, refund.currency)),
            "status": refund.status, "destination": "payment_source",
            "comments": refund.note, "meta": {"source": "availablebalance"},
            "created_at": "2026-11-22T20:00:00.000Z",
        }  # fmt: skip

    # -- settlement lists (issue #16): transactions, refunds, transfers by date, paged ------

    def listed_refunds(self) -> list[Any]:
        """The refunds the provider made (the refunds block's `refunds`, when it has it)."""
        refunds = getattr(self, "refunds", None)
        return list(refunds.values()) if isinstance(refunds, dict) else []

    def refunded_charge(self, refund: Any) -> Charge | None:
        """The charge a refund gives back (it names it by our reference)."""
        reference = getattr(refund, "transaction", None) or getattr(refund, "reference", None)
        return self.charges.get(str(reference))

    def _ps_page(
        self, request: web.Request, items: list[Any], shape: Any
    ) -> dict[str, Any] | web.Response:
        """Paystack's list: `from`/`to` (ISO timestamps) on when each was made, `perPage`
        and `page`, `meta.pageCount`."""
        try:
            start = _instant(request.query.get("from"))
            end = _instant(request.query.get("to"))
            per_page = min(int(request.query.get("perPage", "50")), self.page_size)
            number = int(request.query.get("page", "1"))
        except ValueError:
            return web.json_response({"status": False, "message": "Invalid query"}, status=400)
        kept = [
            item
            for item in items
            if (start is None or _made(item) >= start) and (end is None or _made(item) <= end)
        ]
        kept.sort(key=_made, reverse=True)
        shown = kept[(number - 1) * per_page : number * per_page]
        count = max(1, -(-len(kept) // per_page))
        return {
            "status": True, "message": "Retrieved",
            "data": [shape(item) for item in shown],
            "meta": {"total": len(kept), "skipped": (number - 1) * per_page,
                     "perPage": per_page, "page": number, "pageCount": count},
        }  # fmt: skip

    async def _ps_list(
        self, request: web.Request, operation: str, items: list[Any], shape: Any
    ) -> web.Response:
        body = await self._enter(request, operation)
        if isinstance(body, web.Response):
            return body
        answer = self._ps_page(request, items, shape)
        if isinstance(answer, web.Response):
            return answer
        return await self._respond(operation, answer)

    async def _ps_list_transactions(self, request: web.Request) -> web.Response:
        def shape(charge: Charge) -> dict[str, Any]:
            return {
                "id": charge.id, "domain": "test", "status": charge.status,
                "reference": charge.reference, "amount": charge.amount,
                "currency": charge.currency.upper(), "channel": "card",
                "createdAt": _stamp(charge.created_at),
                "paid_at": _stamp(charge.created_at) if charge.status == "success" else None,
                "customer": {"email": charge.email},
            }  # fmt: skip

        return await self._ps_list(request, "list_transactions", list(self.charges.values()), shape)

    async def _ps_list_refunds(self, request: web.Request) -> web.Response:
        def shape(refund: Any) -> dict[str, Any]:
            charge = self.refunded_charge(refund)
            return {
                "id": refund.id, "domain": "test", "transaction": charge.id if charge else None,
                "amount": refund.amount, "currency": str(refund.currency).upper(),
                "status": refund.status, "createdAt": _stamp(_made(refund)),
            }  # fmt: skip

        return await self._ps_list(request, "list_refunds", self.listed_refunds(), shape)

    async def _ps_list_transfers(self, request: web.Request) -> web.Response:
        def shape(transfer: Transfer) -> dict[str, Any]:
            return {**self._ps_transfer_object(transfer), "createdAt": _stamp(transfer.created_at)}

        return await self._ps_list(request, "list_transfers", list(self.transfers.values()), shape)

    async def _fw_list(
        self, request: web.Request, operation: str, items: list[Any], shape: Any, *, dated: bool
    ) -> web.Response:
        """Flutterwave's list: `from`/`to` as YYYY-MM-DD (both days included) where the
        endpoint takes them, `page`, `meta.page_info.total_pages`."""
        body = await self._enter(request, operation)
        if isinstance(body, web.Response):
            return body
        try:
            start = _day(request.query.get("from")) if dated else None
            end = _day(request.query.get("to")) if dated else None
            number = int(request.query.get("page", "1"))
        except ValueError:
            return web.json_response(
                {"status": "error", "message": "Invalid date format", "data": None}, status=400
            )
        kept = [
            item
            for item in items
            if (start is None or _made(item).date() >= start)
            and (end is None or _made(item).date() <= end)
        ]
        kept.sort(key=_made, reverse=True)
        size = self.page_size
        shown = kept[(number - 1) * size : number * size]
        return await self._respond(operation, {
            "status": "success", "message": "Retrieved",
            "meta": {"page_info": {"total": len(kept), "current_page": number,
                                   "total_pages": max(1, -(-len(kept) // size))}},
            "data": [shape(item) for item in shown],
        })  # fmt: skip

    async def _fw_list_transactions(self, request: web.Request) -> web.Response:
        def shape(charge: Charge) -> dict[str, Any]:
            return {
                "id": charge.id, "tx_ref": charge.reference, "flw_ref": f"FLW-MOCK-{charge.id}",
                "amount": _raw(_major(charge.amount, charge.currency)),
                "charged_amount": _raw(_major(charge.amount, charge.currency)),
                "currency": charge.currency.upper(), "status": charge.status,
                "payment_type": "card", "created_at": _stamp(charge.created_at),
                "customer": {"email": charge.email},
            }  # fmt: skip

        charges = list(self.charges.values())
        return await self._fw_list(request, "list_transactions", charges, shape, dated=True)

    async def _fw_list_refunds(self, request: web.Request) -> web.Response:
        def shape(refund: Any) -> dict[str, Any]:
            charge = self.refunded_charge(refund)
            return {
                "id": refund.id, "amount_refunded": _raw(_major(refund.amount, refund.currency)),
                "status": refund.status, "flw_ref": f"URF_{refund.id}", "comment": "",
                "created_at": _stamp(_made(refund)),
                "transaction_id": charge.id if charge else None,
            }  # fmt: skip

        return await self._fw_list(
            request, "list_refunds", self.listed_refunds(), shape, dated=True
        )

    async def _fw_list_transfers(self, request: web.Request) -> web.Response:
        def shape(transfer: Transfer) -> dict[str, Any]:
            return {**self._fw_transfer_object(transfer), "created_at": _stamp(transfer.created_at)}

        # Its transfer list takes no dates (the caller keeps its period's); `reference`
        # finds one payout's (the payouts helper's lookup of a timed-out transfer).
        reference = request.query.get("reference")
        transfers = [
            t for t in self.transfers.values() if reference is None or t.reference == reference
        ]
        return await self._fw_list(request, "list_transfers", transfers, shape, dated=False)


def _made(item: Any) -> datetime:
    """When a listed object was made (a refund kept without a time counts as now)."""
    made = getattr(item, "created_at", None)
    return made if isinstance(made, datetime) else datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _instant(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


class _raw(str):  # a marker: written into JSON as a bare number
    pass


def _dumps(answer: dict[str, Any]) -> str:
    """JSON with decimal amounts as bare numbers, as the providers write them."""
    marks: list[str] = []

    def walk(value: Any) -> Any:
        if isinstance(value, _raw):
            marks.append(str(value))
            return f"__RAW_{len(marks) - 1}__"
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    text = json.dumps(walk(answer))
    for index, mark in enumerate(marks):
        text = text.replace(f'"__RAW_{index}__"', mark)
    return text


def _major(amount: int, currency: str) -> str:
    exponent = minor_unit_exponent(currency)
    return str(Decimal(amount).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent)))


def _minor(value: Any, currency: str) -> int:
    minor = Decimal(str(value)).scaleb(minor_unit_exponent(currency))
    if minor != minor.to_integral_value():
        raise ValueError(f"{value} {currency} is not a whole number of minor units")
    return int(minor)


@contextlib.asynccontextmanager
async def serve(fake: FakeProvider) -> AsyncIterator[FakeProvider]:
    """Run the fake on a free port of 127.0.0.1 for the duration of the block."""
    runner = web.AppRunner(fake.app(), shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()
