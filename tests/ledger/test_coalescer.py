"""The coalescer's workers: consecutive batches on one held connection, a batch that fails
whole posted item by item, and no caller left waiting when the pool gives no connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from services.ledger.schemas.transactions import TransactionRequest
from services.ledger.service import coalescer as coalescer_module
from services.ledger.service.coalescer import Coalescer
from shared.identity import Identity
from tests.conftest import ServiceClient
from tests.support.ledger import TENANT, as_tenant, balance, get_account, open_books
from tests.support.ledger import transfer_body as body
from tests.support.servers import CreateDb

IDENTITY = Identity("key_test", "api_key", tenant_id=TENANT)


@pytest.fixture
async def ledger(
    service_client: ServiceClient, create_db: CreateDb
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    dsn = await create_db("ledger")
    async with service_client("ledger", database_url=dsn, sweep_interval=60) as client:
        await open_books(client)
        yield client, dsn


def transfer(n: int) -> TransactionRequest:
    return TransactionRequest.model_validate(body(f"ref-{n}", "cash", "sales", 1))


async def test_a_busy_worker_posts_batch_after_batch_on_one_connection(
    ledger: tuple[httpx.AsyncClient, str],
) -> None:
    client, dsn = ledger
    resets = 0

    async def reset(conn: asyncpg.Connection) -> None:
        nonlocal resets
        resets += 1
        await conn.execute(conn.get_reset_query())

    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4, reset=reset)
    coalescer = Coalescer(pool, max_batch=5, attempts=3, workers=1)
    answers = [asyncio.create_task(coalescer.submit(IDENTITY, transfer(n))) for n in range(20)]
    await asyncio.sleep(0)  # all twenty queued before the worker starts: four batches of 5
    worker = asyncio.create_task(coalescer.run())
    try:
        results = await asyncio.gather(*answers)
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        await pool.close()
    assert [result.status for result in results] == ["created"] * 20
    assert resets == 1  # one acquisition for the four batches, not one each
    assert balance(await get_account(client, as_tenant(), "cash"))[0] == 20


async def test_a_batch_failing_whole_is_posted_item_by_item(
    ledger: tuple[httpx.AsyncClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, dsn = ledger
    original = coalescer_module._post_groups

    async def fail_batches_of_several(conn, *, batch, events):  # type: ignore[no-untyped-def]
        if len(batch) > 1:
            raise RuntimeError("something unexpected")
        return await original(conn, batch=batch, events=events)

    monkeypatch.setattr(coalescer_module, "_post_groups", fail_batches_of_several)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    coalescer = Coalescer(pool, max_batch=5, attempts=3, workers=1)
    answers = [asyncio.create_task(coalescer.submit(IDENTITY, transfer(n))) for n in range(6)]
    await asyncio.sleep(0)
    worker = asyncio.create_task(coalescer.run())
    try:
        results = await asyncio.gather(*answers)
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        await pool.close()
    assert [result.status for result in results] == ["created"] * 6
    assert balance(await get_account(client, as_tenant(), "cash"))[0] == 6


async def test_no_connection_fails_the_posting_and_the_worker_goes_on(
    ledger: tuple[httpx.AsyncClient, str],
) -> None:
    _, dsn = ledger
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    await pool.close()
    coalescer = Coalescer(pool, max_batch=5, attempts=3, workers=1)
    worker = asyncio.create_task(coalescer.run())
    try:
        for n in range(2):
            with pytest.raises(asyncpg.InterfaceError):
                await asyncio.wait_for(coalescer.submit(IDENTITY, transfer(n)), timeout=10)
        assert not worker.done()
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
