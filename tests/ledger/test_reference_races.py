"""A reference taken by another transaction while a posting waits: the posting starts over
(nothing it wrote survives, balances included) and answers as a replay or a conflict."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from services.ledger.schemas.transactions import TransactionRequest
from services.ledger.service.posting import ItemResult, post_transactions
from shared.db import Connection, create_pool, in_transaction, transaction
from shared.identity import Identity
from tests.conftest import ServiceClient
from tests.support.ledger import (
    TENANT,
    as_tenant,
    assert_verified,
    balance,
    get_account,
    open_books,
    transfer_body,
)
from tests.support.servers import CreateDb

IDENTITY = Identity("key_test", "api_key", tenant_id=TENANT)


@pytest.fixture
async def books(
    service_client: ServiceClient, create_db: CreateDb
) -> AsyncIterator[tuple[httpx.AsyncClient, asyncpg.Pool, dict[str, str]]]:
    dsn = await create_db("ledger")
    async with service_client("ledger", database_url=dsn, sweep_interval=60) as client:
        pool = await create_pool(dsn, application_name="test_races", min_size=2)
        try:
            yield client, pool, await open_books(client)
        finally:
            await pool.close()


async def _until_waiting_on_a_lock(pool: asyncpg.Pool) -> None:
    for _ in range(500):
        waiting = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second posting never waited for the first")


async def _race(
    pool: asyncpg.Pool, first: TransactionRequest, second: TransactionRequest
) -> tuple[ItemResult, ItemResult, int]:
    """`first` posted and held uncommitted until `second`, posting the same reference, waits
    for it; then committed. (first's result, second's result, second's attempts)."""
    attempts = 0

    async def post_second(conn: Connection) -> list[ItemResult]:
        nonlocal attempts
        attempts += 1
        return await post_transactions(conn, IDENTITY, [second])

    async with transaction(pool) as conn:
        [posted] = await post_transactions(conn, IDENTITY, [first])
        racer = asyncio.create_task(in_transaction(pool, post_second))
        await _until_waiting_on_a_lock(pool)
    [raced] = await racer
    return posted, raced, attempts


async def _posted(client: httpx.AsyncClient, code: str) -> tuple[int, int]:
    account = await get_account(client, as_tenant(), code)
    return balance(account)[0], account["version"]


async def test_same_body_on_the_same_accounts_is_a_replay(
    books: tuple[httpx.AsyncClient, asyncpg.Pool, dict[str, str]],
) -> None:
    client, pool, _ = books
    item = TransactionRequest.model_validate(transfer_body("raced", "cash", "sales", 500))
    posted, raced, attempts = await _race(pool, item, item)
    assert posted.status == "created"
    assert (raced.status, raced.transaction_id) == ("exists", posted.transaction_id)
    assert attempts == 2  # the first attempt found the reference taken and started over
    assert await _posted(client, "cash") == (500, 1)
    assert await _posted(client, "sales") == (500, 1)
    await assert_verified(client)


async def test_another_body_on_other_accounts_is_a_conflict_that_moves_nothing(
    books: tuple[httpx.AsyncClient, asyncpg.Pool, dict[str, str]],
) -> None:
    client, pool, _ = books
    first = TransactionRequest.model_validate(transfer_body("raced", "cash", "sales", 500))
    # Other accounts: it waits on the reference's unique index, not on the accounts' locks,
    # and its statement has already moved its own accounts' totals when it finds the
    # reference taken. That must roll back.
    second = TransactionRequest.model_validate(transfer_body("raced", "cash_eur", "sales_eur", 700))
    posted, raced, attempts = await _race(pool, first, second)
    assert posted.status == "created"
    assert raced.status == "failed"
    assert raced.error is not None
    assert raced.error.code == "reference_conflict"
    assert attempts == 2
    assert await _posted(client, "cash_eur") == (0, 0)
    assert await _posted(client, "sales_eur") == (0, 0)
    assert await _posted(client, "cash") == (500, 1)
    await assert_verified(client)
