"""Payments into and out of wallets: the intent credits the wallet's own ledger account
(checked at create), the confirm answers once the ledger holds the money, and a wallet's
payout posts nothing of its own. The ledger runs as a real HTTP server here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from cli.stack.ports import free_port
from tests.conftest import CreateDb, ServiceClient
from tests.support.payments import payments_client
from tests.support.payments_wallets import (
    BASE,
    as_wallet_service,
    balance,
    deposit,
    key,
    ledger_server,
    open_wallet,
)

BANK = {"account_number": "0123456789", "bank_code": "058"}


@pytest.fixture
async def ledger(create_db: CreateDb, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        ledger_server(await create_db("ledger"), redis_url) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        yield http


@pytest.fixture
async def client(
    service_client: ServiceClient, dsn: str, ledger: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    async with payments_client(
        service_client, dsn, ledger_url=str(ledger.base_url).rstrip("/"), relay_interval=3600
    ) as http:
        yield http


async def test_a_deposit_shows_in_the_wallet_as_soon_as_confirm_answers(
    client: httpx.AsyncClient, ledger: httpx.AsyncClient
) -> None:
    await open_wallet(ledger, "wal_a")
    response = await deposit(client, "wal_a")
    assert response.status_code == 200, response.text
    assert response.json()["wallet_id"] == "wal_a"
    # No waiting here: the confirm answered after the ledger took the posting.
    assert await balance(ledger, "wal_a") == 5000
    tenant_balance = await ledger.get("/ledger/accounts/payments.balance.usd", headers=key())
    assert tenant_balance.json()["balance"]["posted"] == 0


async def test_confirm_later_credits_the_wallet_too(
    client: httpx.AsyncClient, ledger: httpx.AsyncClient
) -> None:
    await open_wallet(ledger, "wal_b")
    intent = (await deposit(client, "wal_b", confirm=False)).json()
    confirmed = await client.post(f"{BASE}/{intent['id']}/confirm", json={}, headers=key())
    assert confirmed.json()["status"] == "succeeded"
    assert await balance(ledger, "wal_b") == 5000


@pytest.mark.parametrize(
    ("wallet", "setup", "code"),
    [
        ("wal_missing", None, "resource_missing"),
        ("wal_eur", {"currency": "eur"}, "currency_mismatch"),
        ("wal_theirs", {"tenant": "ten_else"}, "resource_missing"),
        ("wal_live", {"livemode": True}, "resource_missing"),
    ],
)
async def test_a_wallet_that_cannot_take_it_is_400(
    client: httpx.AsyncClient, ledger: httpx.AsyncClient, dsn: str, wallet: str,
    setup: dict[str, Any] | None, code: str,
) -> None:  # fmt: skip
    if setup is not None:
        await open_wallet(ledger, wallet, **setup)
    response = await deposit(client, wallet)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("wallet_id", code)
    assert (await client.get(BASE, headers=key())).json()["data"] == []


@pytest.mark.parametrize("wallet", ["", "a b", "x" * 101, "wal/../x"])
async def test_a_malformed_wallet_id_is_400(client: httpx.AsyncClient, wallet: str) -> None:
    response = await deposit(client, wallet)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "wallet_id"


async def test_a_wallet_payout_posts_nothing_and_lists_by_wallet(
    client: httpx.AsyncClient, dsn: str
) -> None:
    made = []
    for wallet in ("wal_x", "wal_y", None):
        body = {"amount": 700, "currency": "ngn", "destination": BANK}
        if wallet:
            body["wallet_id"] = wallet
        response = await client.post("/payments/payouts", json=body, headers=key())
        assert response.json()["status"] == "paid"
        made.append(response.json())
    conn = await asyncpg.connect(dsn)
    try:
        owed = [
            r["reference_id"] for r in await conn.fetch("SELECT reference_id FROM ledger_outbox")
        ]
    finally:
        await conn.close()
    assert owed == [made[2]["id"]]
    listed = (await client.get("/payments/payouts?wallet_id=wal_x", headers=key())).json()
    assert [p["id"] for p in listed["data"]] == [made[0]["id"]]
    assert listed["data"][0]["wallet_id"] == "wal_x"
    paid = (await client.get("/payments/payouts?status=paid", headers=key())).json()
    assert len(paid["data"]) == 3
    other = await client.get("/payments/payouts?wallet_id=wal_x", headers=key("ten_else"))
    assert other.json()["data"] == []
    bad = await client.get("/payments/payouts?status=lost", headers=key())
    assert bad.status_code == 400


async def test_ledger_down_at_create_is_503_and_writes_nothing(
    service_client: ServiceClient, dsn: str
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with payments_client(service_client, dsn, ledger_url=dead, relay_interval=3600) as client:
        response = await deposit(client, "wal_a")
        assert response.status_code == 503
        assert response.json()["error"]["type"] == "api_error"
        assert (await client.get(BASE, headers=key())).json()["data"] == []


async def test_a_wallet_payments_currency_cannot_change(
    client: httpx.AsyncClient, ledger: httpx.AsyncClient
) -> None:
    await open_wallet(ledger, "wal_c")
    intent = (await deposit(client, "wal_c", confirm=False)).json()
    changed = await client.post(f"{BASE}/{intent['id']}", json={"currency": "eur"}, headers=key())
    assert changed.status_code == 400
    assert changed.json()["error"]["param"] == "currency"
    same = await client.post(f"{BASE}/{intent['id']}", json={"amount": 900}, headers=key())
    assert same.json()["amount"] == 900


async def test_a_refund_cannot_take_more_than_the_wallet_still_holds(
    client: httpx.AsyncClient, ledger: httpx.AsyncClient
) -> None:
    await open_wallet(ledger, "wal_r")
    intent = (await deposit(client, "wal_r")).json()
    # The wallet's owner spends most of it elsewhere.
    await open_wallet(ledger, "wal_shop")
    spent = await ledger.post(
        "/ledger/transactions",
        json={"reference_id": "spend-1", "entries": [
            {"account_id": "wallet.wal_r", "amount": 4000, "direction": "debit"},
            {"account_id": "wallet.wal_shop", "amount": 4000, "direction": "credit"},
        ]},
        headers=as_wallet_service(),  # a wallet transfer, as the wallet service posts it
    )  # fmt: skip
    assert spent.status_code in (200, 201), spent.text
    refused = await client.post(
        "/payments/refunds", json={"payment_intent": intent["id"]}, headers=key()
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "insufficient_funds"
    partial = await client.post(
        "/payments/refunds", json={"payment_intent": intent["id"], "amount": 1000}, headers=key()
    )
    assert partial.status_code == 200, partial.text
