"""One asyncpg pool per process, and one transaction per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

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


@asynccontextmanager
async def transaction(pool: Pool) -> AsyncIterator[Connection]:
    """The request's one transaction: committed when the block ends, rolled back on error."""
    async with pool.acquire() as conn, conn.transaction():
        yield conn
