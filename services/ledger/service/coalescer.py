"""Combining concurrent single postings into one database transaction, as TigerBeetle
batches: the accounts are locked once, the rows written with one statement and one commit
answers everyone. Every per-request guarantee holds: each item is validated, applied and
refused on its own (a refused item writes nothing and does not disturb the others), a
reference is idempotent, and no caller is answered before the commit that holds its item.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from services.ledger.schemas.transactions import TransactionRequest
from services.ledger.service.posting import ItemResult, post_transactions
from services.ledger.settings import LedgerSettings
from shared.aio import stop
from shared.db import Connection, Pool, in_transaction
from shared.identity import Identity

log = logging.getLogger("micro.ledger.coalescer")


@dataclass(frozen=True, slots=True)
class _Request:
    identity: Identity
    item: TransactionRequest
    answer: asyncio.Future[ItemResult]


class Coalescer:
    def __init__(
        self, pool: Pool, *, max_batch: int, attempts: int, workers: int, events: bool = False
    ) -> None:
        self.pool = pool
        self.events = events
        self.max_batch = max_batch
        self.attempts = attempts
        self.workers = workers
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()

    async def submit(self, identity: Identity, item: TransactionRequest) -> ItemResult:
        answer: asyncio.Future[ItemResult] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Request(identity, item, answer))
        return await answer

    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._post(batch)

    async def _post(self, batch: list[_Request]) -> None:
        try:
            results = await in_transaction(
                self.pool,
                functools.partial(_post_groups, batch=batch, events=self.events),
                attempts=self.attempts,
            )
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0], exc)
                return
            # Something unexpected: find the culprit by posting each alone.
            log.warning("coalesced batch failed; posting its items one by one", exc_info=True)
            for request in batch:
                await self._post([request])
            return
        for request, result in zip(batch, results, strict=True):
            if not request.answer.done():
                request.answer.set_result(result)


async def _post_groups(
    conn: Connection, *, batch: list[_Request], events: bool
) -> list[ItemResult]:
    """Post each tenant's items together; tenants in a fixed order so that concurrent
    batches lock accounts in one global order, (tenant, mode, id)."""
    groups: dict[tuple[str, bool], list[int]] = {}
    for position, request in enumerate(batch):
        key = (request.identity.tenant_scope, request.identity.livemode)
        groups.setdefault(key, []).append(position)
    results: list[ItemResult | None] = [None] * len(batch)
    for key in sorted(groups):
        positions = groups[key]
        posted = await post_transactions(
            conn, batch[positions[0]].identity, [batch[p].item for p in positions], events=events
        )
        for position, result in zip(positions, posted, strict=True):
            results[position] = result
    return [result for result in results if result is not None]


def _fail(request: _Request, exc: Exception) -> None:
    if not request.answer.done():
        request.answer.set_exception(exc)


@asynccontextmanager
async def running_coalescer(pool: Pool, settings: LedgerSettings) -> AsyncIterator[Coalescer]:
    """A coalescer with its workers, stopped when the block ends."""
    coalescer = Coalescer(
        pool,
        max_batch=settings.max_batch_size,
        attempts=settings.max_retries,
        workers=settings.coalescer_workers,
        events=settings.transaction_events,
    )
    tasks = [asyncio.create_task(coalescer.run()) for _ in range(coalescer.workers)]
    try:
        yield coalescer
    finally:
        await stop(*tasks)
