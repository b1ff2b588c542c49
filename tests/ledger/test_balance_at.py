"""The balance at a moment on a busy account: concurrent postings are timed in the order they
were applied, so the last entry made by a moment is found by time, from an index, without
reading the entries made since (migration 0008)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from services.ledger.repository import entries as entries_repo
from tests.conftest import CreateDb, ServiceClient
from tests.support.ledger import as_tenant, assert_verified, create_account, transfer

POSTINGS = 60


@pytest.fixture
async def busy(
    service_client: ServiceClient, create_db: CreateDb
) -> AsyncIterator[tuple[asyncpg.Connection, str]]:
    """A connection to a ledger whose `cash` took POSTINGS concurrent transfers; its id."""
    dsn = await create_db("ledger")
    async with service_client("ledger", database_url=dsn, sweep_interval=60) as client:
        cash = await create_account(client, as_tenant(), type="asset", code="cash")
        await create_account(client, as_tenant(), type="revenue", code="sales")
        await asyncio.gather(
            *(
                transfer(
                    client,
                    as_tenant(),
                    debit="cash",
                    credit="sales",
                    amount=n,
                    reference_id=f"r{n}",
                )
                for n in range(1, POSTINGS + 1)
            )
        )
        await assert_verified(client)
    conn = await asyncpg.connect(dsn)
    try:
        yield conn, cash["id"]
    finally:
        await conn.close()


async def test_concurrent_postings_are_timed_in_the_order_they_were_applied(
    busy: tuple[asyncpg.Connection, str],
) -> None:
    conn, cash = busy
    applied = await conn.fetch(
        "SELECT created_at, balance_after FROM entries WHERE account_id = $1 ORDER BY seq",
        cash,
    )
    assert len(applied) == POSTINGS
    # Timed when their database transaction began, the postings the coalescer batched
    # would share one time, and a batch that waited for the account's lock would carry
    # an earlier time than the one applied before it.
    times = [entry["created_at"] for entry in applied]
    assert times == sorted(times)
    assert len(set(times)) == POSTINGS
    # So each entry's own moment reads back the balance it left, and no later one.
    for entry in applied:
        found = await entries_repo.last_posted(conn, account_id=cash, at=entry["created_at"])
        assert found is not None
        assert found.balance_after == entry["balance_after"]
    assert applied[-1]["balance_after"] == POSTINGS * (POSTINGS + 1) // 2


async def test_the_balance_long_ago_reads_none_of_the_entries_made_since(
    busy: tuple[asyncpg.Connection, str],
) -> None:
    conn, cash = busy
    early = await conn.fetchval(
        "SELECT created_at FROM entries WHERE account_id = $1 ORDER BY seq OFFSET 9 LIMIT 1",
        cash,
    )
    # As on a large table, where reading the account's entries in order is what the
    # planner weighs; on sixty rows it would read them all in either plan.
    await conn.execute("SET enable_seqscan = off")
    [plan] = json.loads(
        await conn.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT seq FROM entries "
            "WHERE account_id = $1 AND NOT pending AND created_at <= $2 "
            "ORDER BY created_at DESC, seq DESC LIMIT 1",
            cash,
            early,
        )
    )
    scan = scan_of(plan["Plan"])
    assert scan.get("Index Name") == "entries_account_posted_at_idx", plan
    assert (scan["Actual Rows"], scan.get("Rows Removed by Filter", 0)) == (1, 0)


def scan_of(node: dict[str, Any]) -> dict[str, Any]:
    """The plan's one scan of entries."""
    if "Index Name" in node or node["Node Type"].endswith("Scan"):
        return node
    [child] = node["Plans"]
    return scan_of(child)
