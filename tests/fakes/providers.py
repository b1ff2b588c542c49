"""Paystack and Flutterwave as small local HTTP servers speaking their documented formats.

Each fake keeps its transactions and transfers by reference, checks the Bearer secret key,
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


@dataclass
class Transfer:
    reference: str
    amount: int
    currency: str
    account_number: str
    bank_code: str
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
    # What a new transfer becomes at once.
    transfer_status: str = "success"  # paystack words; flutterwave maps them
    refuse_initialize: bool = False

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
        else:
            app.router.add_post("/v3/payments", self._fw_payments)
            app.router.add_get("/v3/transactions/verify_by_reference", self._fw_verify)
            app.router.add_post("/v3/transfers", self._fw_transfer)
            app.router.add_get("/v3/transfers/{id}", self._fw_get_transfer)
        return app

    async def _enter(self, request: web.Request, operation: str) -> dict[str, Any] | web.Response:
        body: dict[str, Any] = {}
        if request.can_read_body:
            body = json.loads(await request.read(), parse_float=Decimal)
        self.requests.append((operation, request.path_qs, body))
        if request.headers.get("Authorization") != f"Bearer {self.secret_key}":
            if self.kind == "paystack":
                return web.json_response({"status": False, "message": "Invalid key"}, status=401)
            return web.json_response(
                {"status": "error", "message": "Invalid authorization key", "data": None},
                status=401,
            )
        if operation in self.slow:
            # Hangs past the client's patience and then does nothing at all.
            await asyncio.sleep(self.delay)
            return web.json_response({"status": "error", "message": "Gateway timeout"}, status=504)
        return body

    async def _respond(
        self, operation: str, answer: dict[str, Any], status: int = 200
    ) -> web.Response:
        if operation in self.lost_answers:
            await asyncio.sleep(self.delay)  # it happened; the answer never arrives in time
        elif self.latency:
            await asyncio.sleep(self.latency)
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
