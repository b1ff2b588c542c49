"""The ledger's background work with two replicas running at once as real processes on one
database: the coalescer (each replica batches its own requests; the same reference sent to
both is posted once) and the expiry sweeper (every lapsed hold released once, none left,
even when one replica is killed). docs/architecture.md, "Background jobs and replicas"."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import CreateDb
from tests.support.ledger import as_tenant, later, transfer_body
from tests.support.polling import until
from tests.support.replicas import Replica, logs, replicas, service_env, value


async def open_account(http: httpx.AsyncClient, code: str, type_: str, **more: Any) -> None:
    body = {"name": code, "code": code, "type": type_, "currency": "usd", **more}
    response = await http.post("/ledger/accounts", json=body, headers=as_tenant())
    assert response.status_code == 201, response.text


async def batch(http: httpx.AsyncClient, items: list[dict[str, Any]]) -> None:
    response = await http.post(
        "/ledger/transactions/batch", json={"transactions": items}, headers=as_tenant()
    )
    assert response.status_code == 200, response.text
    assert all(r["status"] == "created" for r in response.json()["data"]), response.text


async def test_one_reference_sent_to_both_replicas_is_posted_once(
    create_db: CreateDb, redis_url: str, tmp_path: Path
) -> None:
    dsn = await create_db("ledger")
    env = service_env("ledger", dsn=dsn, redis_url=redis_url)
    with replicas("ledger", env, tmp_path) as pair:
        clients = [httpx.AsyncClient(base_url=r.url, timeout=30) for r in pair]
        try:
            await open_account(clients[0], "cash", "asset")
            await open_account(clients[1], "sales", "revenue")
            references = [f"order-{n}" for n in range(150)]
            # Every reference to both replicas at the same moment: each coalesces what it
            # got into its own batches, so the two race on every reference.
            answers = await asyncio.gather(
                *(
                    http.post(
                        "/ledger/transactions",
                        json=transfer_body(reference, "cash", "sales", 100),
                        headers=as_tenant(),
                    )
                    for reference in references
                    for http in clients
                )
            )
        finally:
            for http in clients:
                await http.aclose()
    assert {a.status_code for a in answers} <= {200, 201}, [a.text for a in answers][:3]
    # Both answers for one reference name the one transaction.
    ids = [a.json()["id"] for a in answers]
    assert all(ids[i] == ids[i + 1] for i in range(0, len(ids), 2))
    assert len(set(ids)) == len(references)
    assert sorted(a.status_code for a in answers).count(201) == len(references)
    assert await value(dsn, "SELECT count(*) FROM transactions") == len(references)
    assert await value(dsn, "SELECT debits_posted FROM accounts WHERE code = 'cash'") == 15000


async def test_every_lapsed_hold_is_released_once_by_two_sweepers(
    create_db: CreateDb, redis_url: str, tmp_path: Path
) -> None:
    dsn = await create_db("ledger")
    env = service_env("ledger", dsn=dsn, redis_url=redis_url, settings={"sweep_interval": 0.05})
    holds = 40
    with replicas("ledger", env, tmp_path) as pair:
        async with httpx.AsyncClient(base_url=pair[0].url, timeout=30) as http:
            await open_account(http, "cash", "asset")
            # A pair of accounts per hold: each hold is its account's only one, so a hold
            # released twice would take the pending totals below zero.
            for n in range(holds):
                await open_account(http, f"wallet-{n}", "liability", no_overdraft=True)
                await open_account(http, f"shop-{n}", "liability")
            await batch(
                http,
                [transfer_body(f"fund-{n}", "cash", f"wallet-{n}", 500) for n in range(holds)],
            )
            expires_at = later(1.5)
            await batch(
                http,
                [
                    {
                        **transfer_body(f"hold-{n}", f"wallet-{n}", f"shop-{n}", 200),
                        "pending": True,
                        "expires_at": expires_at,
                    }
                    for n in range(holds)
                ],
            )

        async def all_expired() -> bool:
            expired = await value(dsn, "SELECT count(*) FROM resolutions WHERE outcome = 'expired'")
            return expired == holds

        await until(all_expired, what=lambda: logs(*pair))
        await assert_released(dsn, pair)


async def test_a_killed_sweeper_leaves_its_holds_to_the_other(
    create_db: CreateDb, redis_url: str, tmp_path: Path
) -> None:
    dsn = await create_db("ledger")
    env = service_env("ledger", dsn=dsn, redis_url=redis_url)
    holds = 30
    # Replica 1 sweeps often, replica 2 rarely: the holds are replica 1's to release, and
    # it dies before they lapse, so only the survivor can finish them.
    with replicas(
        "ledger",
        env,
        tmp_path,
        each=lambda i: {"MICRO_LEDGER_SWEEP_INTERVAL": "0.05" if i == 0 else "0.5"},
    ) as pair:
        async with httpx.AsyncClient(base_url=pair[0].url, timeout=30) as http:
            await open_account(http, "cash", "asset")
            await open_account(http, "wallet", "liability", no_overdraft=True)
            await open_account(http, "shop", "liability")
            await batch(http, [transfer_body("fund", "cash", "wallet", 10_000)])
            expires_at = later(1.0)
            await batch(
                http,
                [
                    {
                        **transfer_body(f"hold-{n}", "wallet", "shop", 100),
                        "pending": True,
                        "expires_at": expires_at,
                    }
                    for n in range(holds)
                ],
            )
        pair[0].kill()

        async def all_expired() -> bool:
            expired = await value(dsn, "SELECT count(*) FROM resolutions WHERE outcome = 'expired'")
            return expired == holds

        await until(all_expired, what=lambda: logs(*pair))
        await assert_released(dsn, pair[1:])


async def assert_released(dsn: str, members: list[Replica]) -> None:
    assert await value(dsn, "SELECT count(*) FROM holds") == 0
    pending = await value(
        dsn, "SELECT coalesce(sum(debits_pending + credits_pending), 0) FROM accounts"
    )
    assert pending == 0
    # Each replica swept without tripping over the other's work.
    for member in members:
        assert "sweep failed" not in member.output(), member.output()
