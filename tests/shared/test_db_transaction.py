"""`shared.db.transaction` / `in_transaction` on a connection already held (the ledger's
coalescer posts batch after batch on one): the same commit, rollback, retry and
after-commit behaviour as on a pool."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.db import (
    Connection,
    RetryableError,
    after_commit,
    holding_transaction,
    in_transaction,
    transaction,
)
from tests.support.servers import CreateDb


@pytest.fixture
async def conn(create_db: CreateDb) -> AsyncIterator[asyncpg.Connection]:
    held = await asyncpg.connect(await create_db("ledger"))
    await held.execute("CREATE TEMP TABLE t (n int)")
    try:
        yield held
    finally:
        await held.close()


async def test_commits_on_the_held_connection_then_runs_the_after_commit_actions(
    conn: asyncpg.Connection,
) -> None:
    done: list[str] = []
    async with transaction(conn) as inside:
        assert inside is conn
        assert holding_transaction()
        await inside.execute("INSERT INTO t VALUES (1)")
        after_commit(lambda: done.append("counted"))
        assert done == []
    assert not conn.is_in_transaction()
    assert done == ["counted"]
    assert await conn.fetchval("SELECT count(*) FROM t") == 1


async def test_an_error_rolls_back_and_drops_the_actions(conn: asyncpg.Connection) -> None:
    done: list[str] = []

    async def work(inside: Connection) -> None:
        await inside.execute("INSERT INTO t VALUES (1)")
        after_commit(lambda: done.append("counted"))
        raise LookupError("boom")

    with pytest.raises(LookupError, match="boom"):
        await in_transaction(conn, work)
    assert done == []
    assert await conn.fetchval("SELECT count(*) FROM t") == 0


async def test_in_transaction_retries_on_the_held_connection(conn: asyncpg.Connection) -> None:
    attempts = 0

    async def work(inside: Connection) -> int:
        nonlocal attempts
        attempts += 1
        await inside.execute("INSERT INTO t VALUES ($1)", attempts)
        if attempts == 1:
            raise RetryableError("again")
        return attempts

    assert await in_transaction(conn, work) == 2
    assert [tuple(row) for row in await conn.fetch("SELECT n FROM t")] == [(2,)]
