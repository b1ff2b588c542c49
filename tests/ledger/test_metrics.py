"""The ledger's metrics, read from `/metrics` as Prometheus would: transactions by outcome,
and the periodic `ledger verify` finding a discrepancy planted in its tables."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx

from cli.stack.ports import free_port
from services.ledger.service.verify_job import verify_once
from tests.conftest import CreateDb, ServiceClient
from tests.support.ledger import (
    as_platform_admin,
    as_tenant,
    fund_wallet,
    open_books,
    transfer_body,
)
from tests.support.metrics import scrape, value
from tests.support.polling import until
from tests.support.replicas import value as value_of
from tests.support.servers import owner_dsn

TOTAL = "micro_ledger_transactions_total"


async def test_transactions_are_counted_by_outcome_and_mode(client: httpx.AsyncClient) -> None:
    await open_books(client)
    before = {
        outcome: await value(client, TOTAL, outcome=outcome, mode="test")
        for outcome in ("posted", "replayed", "refused")
    }
    # The counters are the process's: earlier tests' apps in this process moved them too.
    live_before = await value(client, TOTAL, outcome="posted", mode="live")
    body = transfer_body("order-1", "cash", "wallet", 500)
    for _ in range(2):
        response = await client.post("/ledger/transactions", json=body, headers=as_tenant())
        assert response.status_code in (200, 201), response.text
    unknown = transfer_body("order-2", "cash", "no_such_account", 500)
    response = await client.post("/ledger/transactions", json=unknown, headers=as_tenant())
    assert response.status_code == 404, response.text
    after = {
        outcome: await value(client, TOTAL, outcome=outcome, mode="test") for outcome in before
    }
    assert {k: after[k] - before[k] for k in before} == {"posted": 1, "replayed": 1, "refused": 1}
    assert await value(client, TOTAL, outcome="posted", mode="live") == live_before


async def test_periodic_verify_reports_a_planted_discrepancy(
    create_db: CreateDb, service_client: ServiceClient
) -> None:
    dsn = await create_db("ledger")
    started = time.time()
    async with service_client(
        "ledger", database_url=dsn, sweep_interval=60, verify_interval=0.1
    ) as client:
        books = await open_books(client)
        await fund_wallet(client, 1000)

        async def verified_since(moment: float) -> bool:
            return await value(client, "micro_ledger_verify_last_success_timestamp_seconds") > (
                moment
            )

        await until(lambda: verified_since(started))
        assert await value(client, "micro_ledger_verify_discrepancies") == 0
        conn = await asyncpg.connect(owner_dsn(dsn))
        try:
            await conn.execute(
                "UPDATE accounts SET credits_posted = credits_posted + 1 WHERE id = $1",
                books["wallet"],
            )
        finally:
            await conn.close()

        async def found() -> bool:
            return await value(client, "micro_ledger_verify_discrepancies") > 0

        await until(found)
        # As many as `ledger verify` itself reports: the account's totals against its
        # entries, its last entry's balance_after, and the tenant's books.
        report = (await client.get("/ledger/verify", headers=as_platform_admin())).json()
        assert len(report["discrepancies"]) == 3, report
        assert await value(client, "micro_ledger_verify_discrepancies") == 3


async def test_events_waiting_while_redis_is_down_are_the_outbox_backlog(
    service_client: ServiceClient,
) -> None:
    nothing_listens = f"redis://127.0.0.1:{free_port()}/0"
    async with service_client(
        "ledger", sweep_interval=60, transaction_events=True, redis_url=nothing_listens
    ) as client:
        await open_books(client)
        await fund_wallet(client, 1000)
        samples = await scrape(client)
        # One `ledger.transaction.created`, committed and waiting for Redis.
        assert samples[("micro_outbox_pending", frozenset({("service", "ledger")}))] == 1
        oldest = ("micro_outbox_oldest_pending_seconds", frozenset({("service", "ledger")}))
        assert samples[oldest] > 0


async def test_replicas_run_one_verification_per_interval(create_db: CreateDb) -> None:
    # Two replicas' pools on one database, each asked three times at once: one run in all,
    # the others find the lock taken or the last run too recent.
    dsn = await create_db("ledger")
    pools = [await asyncpg.create_pool(dsn, min_size=1, max_size=4) for _ in range(2)]
    try:
        asks = [verify_once(pool, interval=3600) for pool in pools for _ in range(3)]
        ran = [found for found in await asyncio.gather(*asks) if found is not None]
        assert ran == [0]
        assert await value_of(dsn, "SELECT count(*) FROM verify_runs") == 1
        # Once an interval has passed (here: none asked for), the next ask runs again.
        assert await verify_once(pools[1], interval=0) == 0
    finally:
        for pool in pools:
            await pool.close()
