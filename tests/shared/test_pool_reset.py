"""The pool's reset on release (shared/db.py): skipped for a connection whose one
`transaction()` ended cleanly, run for every other release, so a session lock or setting
left by a failed block never reaches the next request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from shared.db import Pool, create_pool, transaction
from tests.support.servers import CreateDb


class Boom(Exception):
    pass


@pytest.fixture
async def pool(create_db: CreateDb) -> AsyncIterator[Pool]:
    # One connection: every acquire is the one the previous release reset (or not).
    pool = await create_pool(
        await create_db("ledger"), application_name="test", min_size=1, max_size=1
    )
    yield pool
    await pool.close()


@pytest.fixture
def resets(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The reset queries sent, one per reset that went to the server."""
    sent: list[str] = []
    execute = asyncpg.Connection.execute

    async def counting(self: asyncpg.Connection, query: str, *args: object, **options: Any) -> str:
        if query == self.get_reset_query():
            sent.append(query)
        status: str = await execute(self, query, *args, **options)
        return status

    monkeypatch.setattr(asyncpg.Connection, "execute", counting)
    return sent


async def test_a_clean_transaction_gives_its_connection_back_without_the_reset_round_trip(
    pool: Pool, resets: list[str]
) -> None:
    async with transaction(pool) as conn:
        await conn.execute("SELECT pg_advisory_xact_lock(7)")
    assert resets == []
    # Any other use of the pool is reset as asyncpg does by default.
    await pool.fetchval("SELECT 1")
    async with pool.acquire() as conn:
        await conn.fetchval("SELECT 1")
    assert len(resets) == 2


async def test_a_failed_transaction_is_reset_so_its_session_lock_and_setting_go(
    pool: Pool, resets: list[str]
) -> None:
    async def leave_session_state_and_fail() -> None:
        async with transaction(pool) as conn:
            # What `transaction()` code must never do; when it fails, the reset undoes it.
            await conn.execute("SELECT pg_advisory_lock(8)")
            await conn.execute("SET application_name = 'left behind'")
            raise Boom

    with pytest.raises(Boom):
        await leave_session_state_and_fail()
    assert len(resets) == 1
    async with pool.acquire() as conn:
        assert await conn.fetchval("SHOW application_name") == "test"
        held = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 8"
        assert await conn.fetchval(held) == 0


async def test_after_a_clean_transaction_the_next_release_outside_one_is_reset(
    pool: Pool, resets: list[str]
) -> None:
    async with transaction(pool):
        pass
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock(9)")
    assert len(resets) == 1
    async with pool.acquire() as conn:
        held = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 9"
        assert await conn.fetchval(held) == 0
