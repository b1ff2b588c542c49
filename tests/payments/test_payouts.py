"""Payouts over the simulator: outcomes by test bank account, input rules, the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import ServiceClient
from tests.support.asgi import identity_headers
from tests.support.payments import payments_client

BASE = "/payments/payouts"
BANK = {"account_number": "0123456789", "bank_code": "058", "account_name": "Ada Obi"}


def key(tenant: str = "ten_payouts") -> dict[str, str]:
    return identity_headers(tenant_id=tenant)


@pytest.fixture
async def client(service_client: ServiceClient, dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    async with payments_client(service_client, dsn, relay_interval=3600) as http:
        yield http


async def payout(client: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    body = {"amount": 2500, "currency": "ngn", "destination": BANK, **fields}
    return await client.post(BASE, json=body, headers=key())


async def owed(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [
            r["reference_id"] for r in await conn.fetch("SELECT reference_id FROM ledger_outbox")
        ]
    finally:
        await conn.close()


async def test_a_payout_is_paid_and_owes_the_ledger(client: httpx.AsyncClient, dsn: str) -> None:
    response = await payout(client)
    assert response.status_code == 200
    body = response.json()
    assert (body["object"], body["status"], body["amount"]) == ("payout", "paid", 2500)
    assert body["destination"]["account_number"] == "******6789"
    assert await owed(dsn) == [body["id"]]


@pytest.mark.parametrize(
    ("account_number", "status", "failure_code"),
    [
        ("0000000000", "failed", "account_closed"),  # a closed account
        ("1111111111", "pending", None),  # a slow bank
    ],
)
async def test_a_payout_not_paid_owes_nothing(
    client: httpx.AsyncClient, dsn: str, account_number: str, status: str, failure_code: str | None
) -> None:
    body = (await payout(client, destination={**BANK, "account_number": account_number})).json()
    assert (body["status"], body["failure_code"]) == (status, failure_code)
    assert await owed(dsn) == []


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": -1}, "amount"),
        ({"currency": "zzz"}, "currency"),
        ({"destination": {**BANK, "account_number": "12"}}, "destination[account_number]"),
        ({"destination": {"bank_code": "058"}}, "destination[account_number]"),
        ({"destination": None}, "destination"),
        ({"provider": "carrier-pigeon"}, "provider"),
    ],
)
async def test_bad_input_is_400_and_writes_nothing(
    client: httpx.AsyncClient, dsn: str, fields: dict[str, Any], param: str
) -> None:
    response = await payout(client, **fields)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert (await client.get(BASE, headers=key())).json()["data"] == []
    assert await owed(dsn) == []


async def test_other_tenants_see_nothing(client: httpx.AsyncClient) -> None:
    body = (await payout(client)).json()
    assert (await client.get(f"{BASE}/{body['id']}", headers=key("ten_other"))).status_code == 404
    assert (await client.get(BASE, headers=key("ten_other"))).json()["data"] == []
    assert (await client.get(f"{BASE}/{body['id']}", headers=key())).status_code == 200
