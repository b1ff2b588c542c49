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


# What to do once the current `transaction()` commits (counters of facts that are true only
# then); dropped when it rolls back.
_after_commit: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar(
    "micro_after_commit", default=None
)


def after_commit(action: Callable[[], None]) -> None:
    """Run `action` when the current task's transaction commits; at once outside one."""
    pending = _after_commit.get()
    if pending is None or not holding_transaction():
        action()
    else:
        pending.append(action)


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
    actions: list[Callable[[], None]] = []
    async with pool.acquire() as conn, conn.transaction():
        token = _open_transaction.set(conn)
        pending = _after_commit.set(actions)
        try:
            yield conn
        finally:
            _after_commit.reset(pending)
            _open_transaction.reset(token)
    for action in actions:
        action()


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
