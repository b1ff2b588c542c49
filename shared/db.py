"""One asyncpg pool per process, and one transaction per request."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeAlias, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

T = TypeVar("T")

Pool: TypeAlias = asyncpg.Pool
# What a repository is handed: a pooled connection or a plain one (tests, the migration CLI).
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy


async def create_pool(
    dsn: str, *, application_name: str, min_size: int = 2, max_size: int = 20
) -> Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        # Identify the service in pg_stat_activity.
        server_settings={"application_name": application_name},
    )
    assert pool is not None
    return pool


class RetryableError(Exception):
    """Raised inside a transaction to have `in_transaction` run it again from the start."""


@asynccontextmanager
async def transaction(pool: Pool) -> AsyncIterator[Connection]:
    """The request's one transaction: committed when the block ends, rolled back on error."""
    async with pool.acquire() as conn, conn.transaction():
        yield conn


async def in_transaction(
    pool: Pool, work: Callable[[Connection], Awaitable[T]], *, attempts: int = 5
) -> T:
    """Run `work` in one transaction, again from the start after a deadlock, a
    serialization failure or a RetryableError: those are never the client's fault."""
    for attempt in range(1, attempts + 1):
        try:
            async with transaction(pool) as conn:
                return await work(conn)
        except (
            asyncpg.DeadlockDetectedError,
            asyncpg.SerializationError,
            RetryableError,
        ):
            if attempt == attempts:
                raise
            await asyncio.sleep(random.uniform(0, 0.005 * attempt))  # noqa: S311 - jitter
    raise AssertionError("unreachable")
