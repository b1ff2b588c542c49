"""One asyncpg pool per process, and one transaction per request."""

from __future__ import annotations

import asyncio
import contextvars
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


# The transaction the current task holds open, if any. Network calls check it: a call made
# while a transaction is open keeps a pooled connection (and its row locks) for as long as
# the far side takes to answer, so one slow provider would stall the whole service.
_open_transaction: contextvars.ContextVar[Connection | None] = contextvars.ContextVar(
    "micro_open_transaction", default=None
)


class TransactionHeldError(RuntimeError):
    """A network call was started while this task holds a database transaction open."""


def holding_transaction() -> bool:
    """True while the current task is inside `transaction()` (a task spawned from inside one
    inherits the variable, so the connection itself is asked whether it is still in it)."""
    conn = _open_transaction.get()
    return conn is not None and not conn.is_closed() and conn.is_in_transaction()


def forbid_transaction(what: str) -> None:
    """Called before every network call: refuse to start one while a transaction is open."""
    if holding_transaction():
        raise TransactionHeldError(
            f"{what} was started inside a database transaction; commit first, then call"
        )


class RetryableError(Exception):
    """Raised inside a transaction to have `in_transaction` run it again from the start."""


@asynccontextmanager
async def transaction(pool: Pool) -> AsyncIterator[Connection]:
    """The request's one transaction: committed when the block ends, rolled back on error."""
    async with pool.acquire() as conn, conn.transaction():
        token = _open_transaction.set(conn)
        try:
            yield conn
        finally:
            _open_transaction.reset(token)


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
