"""The ledger under concurrency: no lost update, no overdraft, no deadlock, books balanced."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx

from tests.conftest import ServiceClient
from tests.support.ledger import as_tenant, assert_verified

TENANT = "ten_concurrency"


def headers() -> dict[str, str]:
    return as_tenant(TENANT)


async def account(client: httpx.AsyncClient, name: str, type_: str, **extra: Any) -> str:
    response = await client.post(
        "/ledger/accounts",
        json={"name": name, "type": type_, "currency": "usd", **extra},
        headers=headers(),
    )
    assert response.status_code == 201, response.text
    account_id: str = response.json()["id"]
    return account_id


async def transfer(
    client: httpx.AsyncClient, debit: str, credit: str, amount: int, reference: str
) -> httpx.Response:
    return await client.post(
        "/ledger/transactions",
        json={
            "reference_id": reference,
            "entries": [
                {"account_id": debit, "amount": amount, "direction": "debit"},
                {"account_id": credit, "amount": amount, "direction": "credit"},
            ],
        },
        headers=headers(),
    )


async def test_200_concurrent_debits_of_1_from_an_account_holding_100(
    service_client: ServiceClient,
) -> None:
    async with service_client("ledger", pool_max_size=30) as client:
        cash = await account(client, "cash", "asset")
        wallet = await account(client, "wallet", "liability", no_overdraft=True)
        revenue = await account(client, "fees", "revenue")
        assert (await transfer(client, cash, wallet, 100, "fund")).status_code == 201

        responses = await asyncio.gather(
            *(transfer(client, wallet, revenue, 1, f"spend-{n}") for n in range(200))
        )
        statuses = [r.status_code for r in responses]
        assert statuses.count(201) == 100
        assert statuses.count(402) == 100
        assert {r.json()["error"]["code"] for r in responses if r.status_code == 402} == {
            "insufficient_funds"
        }
        balance = (await client.get(f"/ledger/accounts/{wallet}", headers=headers())).json()
        assert balance["balance"]["posted"] == 0
        assert balance["balance"]["available"] == 0
        assert balance["version"] == 101
        await assert_verified(client)


async def test_random_transfers_with_a_hot_account_for_20_seconds(
    service_client: ServiceClient,
) -> None:
    async with service_client("ledger", pool_max_size=16) as client:
        accounts = [await account(client, f"a{n}", "asset") for n in range(50)]
        hot = await account(client, "hot", "asset")
        rng = random.Random(7)
        deadline = time.monotonic() + 20
        outcomes: dict[int, int] = {}
        posted: list[int] = []

        async def worker(number: int) -> None:
            sequence = 0
            while time.monotonic() < deadline:
                sequence += 1
                first, second = rng.sample(accounts, 2)
                if rng.random() < 0.5:
                    first = hot
                debit, credit = (first, second) if rng.random() < 0.5 else (second, first)
                amount = rng.randint(1, 10_000)
                response = await transfer(client, debit, credit, amount, f"w{number}-{sequence}")
                outcomes[response.status_code] = outcomes.get(response.status_code, 0) + 1
                if response.status_code == 201:
                    posted.append(amount)

        await asyncio.gather(*(worker(n) for n in range(8)))
        # Every transfer went through: no deadlock, lock timeout or retry leaked to a client.
        assert set(outcomes) == {201}, outcomes
        listed = await client.get("/ledger/accounts?limit=100", headers=headers())
        balances = [a["balance"]["posted"] for a in listed.json()["data"]]
        assert len(balances) == 51
        assert sum(balances) == 0  # assets only: every debit has its credit
        await assert_verified(client)
        assert len(posted) > 500
