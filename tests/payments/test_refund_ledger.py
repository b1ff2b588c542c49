"""Refunds against a real ledger: a provider refund moves the books only once the provider
confirms it, and they balance; a refund out of a wallet that was emptied between its funds
check and its posting ends failed with the reason (its amount free again) instead of a
posting that waits for an operator while the refund says it succeeded."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from tests.conftest import CreateDb, ServiceClient
from tests.fakes.providers import FakeProvider
from tests.support.aiohttp_server import serving
from tests.support.payments import events_of, overrides, payments_client, webhook
from tests.support.payments_wallets import (
    as_wallet_service,
    deposit,
    key,
    ledger_server,
    open_wallet,
)
from tests.support.polling import until

REFUNDS = "/payments/refunds"


class Gate:
    """A proxy in front of the ledger that holds refund postings until it is opened."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.open = asyncio.Event()
        self.held = 0

    async def forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.method == "POST" and request.path == "/ledger/transactions":
            reference = str(json.loads(body or b"{}").get("reference_id", ""))
            if reference.startswith("re_"):
                self.held += 1
                await self.open.wait()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
        async with httpx.AsyncClient(base_url=self.upstream) as http:
            answer = await http.request(
                request.method, request.path_qs, content=body, headers=headers
            )
        return web.Response(
            status=answer.status_code,
            body=answer.content,
            content_type=answer.headers.get("content-type", "application/json").split(";")[0],
        )


@contextlib.asynccontextmanager
async def gate_in_front_of(upstream: str) -> AsyncIterator[tuple[Gate, str]]:
    gate = Gate(upstream)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", gate.forward)
    async with serving(app, shutdown_timeout=0.1) as url:
        try:
            yield gate, url
        finally:
            gate.open.set()


@pytest.fixture
async def ledger_url(create_db: CreateDb, redis_url: str) -> AsyncIterator[str]:
    async with ledger_server(await create_db("ledger"), redis_url) as url:
        yield url


async def posted(ledger: httpx.AsyncClient, code: str) -> int:
    response = await ledger.get(f"/ledger/accounts/{code}", headers=key())
    if response.status_code == 404:
        return 0
    return int(response.json()["balance"]["posted"])


async def test_the_books_move_only_when_the_provider_confirms_and_balance(
    service_client: ServiceClient, dsn: str, ledger_url: str, paystack: FakeProvider,
    flutterwave: FakeProvider,
) -> None:  # fmt: skip
    settings = {**overrides(paystack, flutterwave), "ledger_url": ledger_url}
    async with (
        payments_client(service_client, dsn, **settings) as client,
        httpx.AsyncClient(base_url=ledger_url) as ledger,
    ):
        intent = (
            await client.post(
                "/payments/payment_intents",
                json={"amount": 5000, "currency": "ngn", "provider": "paystack",
                      "receipt_email": "ada@example.com", "confirm": True},
                headers=key(),
            )
        ).json()  # fmt: skip
        paystack.complete(intent["id"])
        await webhook(client, "paystack", paystack.charge_webhook(intent["id"]))

        async def books(balance: int) -> bool:
            clearing = await posted(ledger, "payments.clearing.ngn")
            owed = await posted(ledger, "payments.balance.ngn")
            return clearing == owed == balance

        await until(lambda: books(5000), what="paid")
        made = (
            await client.post(
                REFUNDS, json={"payment_intent": intent["id"], "amount": 2000}, headers=key()
            )
        ).json()
        assert made["status"] == "pending"
        # Pending: the provider has not confirmed; nothing is owed, the books have not moved.
        assert await books(5000)
        at = paystack.settle_refund(paystack.only_refund().id, "processed")
        await webhook(client, "paystack", paystack.refund_webhook(at.id))
        await until(lambda: books(3000), what="refunded")
        found = await ledger.get(
            "/ledger/transactions", params={"reference_id": made["id"]}, headers=key()
        )
        assert len(found.json()["data"]) == 1
        # A duplicate webhook posts nothing more.
        await webhook(client, "paystack", paystack.refund_webhook(at.id))
        assert await books(3000)


async def test_a_wallet_emptied_before_the_posting_fails_the_refund_with_its_reason(
    service_client: ServiceClient, dsn: str, ledger_url: str
) -> None:
    async with (
        gate_in_front_of(ledger_url) as (gate, through_gate),
        payments_client(service_client, dsn, ledger_url=through_gate, relay_interval=3600)
        as client,
        httpx.AsyncClient(base_url=ledger_url) as ledger,
    ):  # fmt: skip
        await open_wallet(ledger, "wal_race")
        intent = (await deposit(client, "wal_race")).json()
        assert intent["status"] == "succeeded", intent
        assert await posted(ledger, "wallet.wal_race") == 5000
        # The funds check passes; the posting is held on its way to the ledger.
        made = await client.post(REFUNDS, json={"payment_intent": intent["id"]}, headers=key())
        assert made.status_code == 200, made.text
        refund = made.json()
        assert refund["status"] == "succeeded"

        async def held() -> bool:
            return gate.held >= 1

        await until(held, what="held at the gate")
        # Meanwhile the wallet's owner spends most of it elsewhere.
        await open_wallet(ledger, "wal_shop")
        spent = await ledger.post(
            "/ledger/transactions",
            json={"reference_id": "spend-race", "entries": [
                {"account_id": "wallet.wal_race", "amount": 4000, "direction": "debit"},
                {"account_id": "wallet.wal_shop", "amount": 4000, "direction": "credit"},
            ]},
            headers=as_wallet_service(),  # a wallet transfer, as the wallet service posts it
        )  # fmt: skip
        assert spent.status_code in (200, 201), spent.text
        gate.open.set()

        async def failed() -> bool:
            shown = (await client.get(f"{REFUNDS}/{refund['id']}", headers=key())).json()
            return bool(shown["status"] == "failed")

        await until(failed, what="failed")
        shown = (await client.get(f"{REFUNDS}/{refund['id']}", headers=key())).json()
        assert shown["failure_reason"] == "insufficient_funds"
        [event] = await events_of(dsn, "refund.failed")
        assert event["data"]["object"]["id"] == refund["id"]
        assert await posted(ledger, "wallet.wal_race") == 1000
        # Terminal: its amount is free, and what the wallet still holds can be refunded.
        again = await client.post(
            REFUNDS, json={"payment_intent": intent["id"], "amount": 1000}, headers=key()
        )
        assert again.status_code == 200, again.text
        assert again.json()["status"] == "succeeded"
