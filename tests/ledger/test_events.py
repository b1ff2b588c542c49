"""The ledger's events (`MICRO_LEDGER_TRANSACTION_EVENTS`): one per new or settled
transaction, written with it, never for a replay or a refusal."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import CreateDb, ServiceClient
from tests.support.ledger import (
    TENANT,
    as_tenant,
    batch,
    fund_wallet,
    hold,
    open_books,
    transfer,
    transfer_body,
)


@pytest.fixture
async def dsn(create_db: CreateDb) -> str:
    return await create_db("ledger")


@pytest.fixture
async def client(service_client: ServiceClient, dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client(
        "ledger", database_url=dsn, sweep_interval=60, transaction_events=True
    ) as ledger:
        yield ledger


async def events(dsn: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT type, payload FROM outbox ORDER BY seq")
    finally:
        await conn.close()
    found = []
    for row in rows:
        event = json.loads(row["payload"])
        assert event["type"] == row["type"]
        found.append(event)
    return found


async def test_a_transaction_emits_created_with_its_entries(
    client: httpx.AsyncClient, dsn: str
) -> None:
    await open_books(client)
    txn = await transfer(
        client, as_tenant(), debit="cash", credit="sales", amount=250, reference_id="sale-1"
    )
    [event] = await events(dsn)
    assert event["type"] == "ledger.transaction.created"
    assert event["tenant_id"] == TENANT
    assert event["livemode"] is False
    data = event["data"]["object"]
    assert data["id"] == txn["id"]
    assert data["reference_id"] == "sale-1"
    assert data["status"] == "posted"
    assert sorted((e["direction"], e["amount"]) for e in data["entries"]) == [
        ("credit", 250),
        ("debit", 250),
    ]


async def test_replays_and_refusals_emit_nothing(client: httpx.AsyncClient, dsn: str) -> None:
    await open_books(client)
    await transfer(client, as_tenant(), debit="cash", credit="sales", amount=5, reference_id="r")
    replay = await client.post(
        "/ledger/transactions", json=transfer_body("r", "cash", "sales", 5), headers=as_tenant()
    )
    assert replay.status_code == 200
    unbalanced = {
        "reference_id": "bad",
        "entries": [
            {"account_id": "cash", "amount": 5, "direction": "debit"},
            {"account_id": "sales", "amount": 4, "direction": "credit"},
        ],
    }
    response = await client.post("/ledger/transactions", json=unbalanced, headers=as_tenant())
    assert response.status_code == 400
    overdraft = {
        "reference_id": "too-much",
        "entries": [
            {"account_id": "wallet", "amount": 10, "direction": "debit"},
            {"account_id": "merchant", "amount": 10, "direction": "credit"},
        ],
    }
    response = await client.post("/ledger/transactions", json=overdraft, headers=as_tenant())
    assert response.status_code == 402
    assert [e["type"] for e in await events(dsn)] == ["ledger.transaction.created"]


async def test_pending_then_posted_voided_and_reversed(client: httpx.AsyncClient, dsn: str) -> None:
    await open_books(client)
    await fund_wallet(client, 100)
    first = await hold(client, 30, reference_id="h1")
    second = await hold(client, 20, reference_id="h2")
    posted = await client.post(
        f"/ledger/transactions/{first['id']}/post", json={}, headers=as_tenant()
    )
    assert posted.status_code == 200, posted.text
    voided = await client.post(f"/ledger/transactions/{second['id']}/void", headers=as_tenant())
    assert voided.status_code == 200, voided.text
    reversed_ = await client.post(
        f"/ledger/transactions/{posted.json()['id']}/reverse", json={}, headers=as_tenant()
    )
    assert reversed_.status_code == 201, reversed_.text
    found = await events(dsn)
    assert [e["type"] for e in found] == [
        "ledger.transaction.created",  # the funding
        "ledger.transaction.created",  # hold 1, pending
        "ledger.transaction.created",  # hold 2, pending
        "ledger.transaction.posted",
        "ledger.transaction.voided",
        "ledger.transaction.reversed",
    ]
    assert found[1]["data"]["object"]["status"] == "pending"
    assert found[3]["data"]["object"]["id"] == posted.json()["id"]
    assert found[4]["data"]["object"]["id"] == second["id"]
    assert found[5]["data"]["object"]["id"] == reversed_.json()["id"]


async def test_a_batch_emits_one_event_per_created_transaction_in_order(
    client: httpx.AsyncClient, dsn: str
) -> None:
    await open_books(client)
    items = [
        {
            "reference_id": f"b{n}",
            "entries": [
                {"account_id": "cash", "amount": n + 1, "direction": "debit"},
                {"account_id": "sales", "amount": n + 1, "direction": "credit"},
            ],
        }
        for n in range(20)
    ]
    items.append({**items[3]})  # a repeat inside the batch: no second event
    results = await batch(client, items)
    assert len(results) == 21
    found = await events(dsn)
    assert [e["data"]["object"]["reference_id"] for e in found] == [f"b{n}" for n in range(20)]
    assert len({e["id"] for e in found}) == 20


async def test_without_the_setting_the_ledger_emits_nothing(
    service_client: ServiceClient, create_db: CreateDb
) -> None:
    dsn = await create_db("ledger")
    async with service_client("ledger", database_url=dsn, sweep_interval=60) as ledger:
        await open_books(ledger)
        await fund_wallet(ledger, 100)
        pending = await hold(ledger, 30)
        voided = await ledger.post(
            f"/ledger/transactions/{pending['id']}/void", headers=as_tenant()
        )
        assert voided.status_code == 200
    assert await events(dsn) == []
