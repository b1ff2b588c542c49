"""News from payments, read from the global event stream (docs/architecture.md, "Three
paths", an event): a wallet's payout paid or failed, a wallet's payment intent finished (or
one made for a wallet straight through payments), a wallet deposit refunded (and that
refund failed, or its posting refused by the ledger: its operation ends failed).

For operations the wallet started, it only hurries what the recovery job does anyway (which
is why it starts from new events): the event names the operation, which is then driven from
what payments and the ledger say now, so a duplicate or late event changes nothing. Refunds
and payments made straight through payments are only learned here; their events come from
Micro's own services over the internal Redis, and each is recorded once (keyed by the refund
or intent id) and succeeds once its ledger posting is there.

Every replica joins the group under its own name. A followed event is acknowledged once it
was handled, so one whose replica died on the way stays pending, and another member takes it
over (XAUTOCLAIM) once it has been idle `events_claim_idle_ms`: handling it twice is harmless,
never handling it would lose a refund from the wallet's history.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from services.wallet.errors import OperationNotFoundError
from services.wallet.service import deposits, returns, withdrawals
from services.wallet.state import WalletState
from shared.aio import stop
from shared.consumer_groups import forget_departed
from shared.internal_client import Unavailable
from shared.outbox import ALL_STREAM

log = logging.getLogger("micro.wallet.notifications")

PAYOUT_EVENTS = frozenset({"payout.paid", "payout.failed"})
INTENT_EVENTS = frozenset(
    {"payment_intent.succeeded", "payment_intent.canceled", "payment_intent.payment_failed"}
)
REFUND_EVENTS = frozenset({"refund.succeeded"})
# A refund that failed after it was announced succeeded (its posting refused): the wallet's
# refund operation, if it has one, ends failed at once rather than at the next recovery.
REFUND_FAILED_EVENTS = frozenset({"refund.failed"})
# A refund's posting the ledger refused for good: its refund operation ends failed.
POSTING_FAILED_EVENTS = frozenset({"ledger.posting.failed"})
FOLLOWED = (
    PAYOUT_EVENTS | INTENT_EVENTS | REFUND_EVENTS | REFUND_FAILED_EVENTS | POSTING_FAILED_EVENTS
)
_BATCH = 100
# Below the Redis client's socket timeout, so a quiet stream is never mistaken for an outage.
_BLOCK_MS = 500
# Deposits wait for their ledger posting: handle several events at once.
_PARALLEL = 8


async def handle(state: WalletState, event: dict[str, Any]) -> None:
    kind = event.get("type")
    obj = (event.get("data") or {}).get("object") or {}
    operation_id = (obj.get("metadata") or {}).get("wallet_operation")
    try:
        if kind in REFUND_EVENTS:
            await returns.record_refund(state, obj)
        elif kind in POSTING_FAILED_EVENTS:
            await returns.posting_refused(state, obj, tenant_id=event.get("tenant_id") or "",
                                          livemode=bool(event.get("livemode")))  # fmt: skip
        elif kind in REFUND_FAILED_EVENTS:
            await returns.refund_failed(state, obj, tenant_id=event.get("tenant_id") or "",
                                        livemode=bool(event.get("livemode")))  # fmt: skip
        elif kind == "payment_intent.succeeded" and obj.get("wallet_id") and not operation_id:
            await deposits.record_external(
                state,
                obj,
                tenant_id=event.get("tenant_id") or "",
                livemode=bool(event.get("livemode")),
            )
        elif not operation_id or not obj.get("wallet_id"):
            return
        elif kind in PAYOUT_EVENTS:
            await withdrawals.on_payout(state, operation_id, obj.get("id"))
        elif kind in INTENT_EVENTS:
            row = await deposits.drive(state, operation_id, wait=state.settings.deposit_wait)
            if kind == "payment_intent.succeeded" and row.status == "failed":
                # Paid after all (the customer tried again through payments): the wallet
                # was credited, so its history shows a deposit.
                await deposits.record_external(
                    state, obj, tenant_id=row.tenant_id, livemode=row.livemode
                )
    except OperationNotFoundError:
        pass  # another deployment's wallet, sharing this Redis
    except Unavailable as exc:
        log.warning("could not follow an event; recovery will", extra={"reason": exc.message})


class Listener:
    def __init__(self, state: WalletState, redis: aioredis.Redis, *, group: str) -> None:
        self.state = state
        self.redis = redis
        self.group = group
        self.consumer = f"wallet-{os.getpid()}-{secrets.token_hex(3)}"
        self.slots = asyncio.Semaphore(_PARALLEL)
        self.tasks: set[asyncio.Task[None]] = set()
        self.claim_idle_ms = state.settings.events_claim_idle_ms
        self._last_claim = 0.0

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await self._ensure_group()
                await self.step()
                failures = 0
            except (RedisError, OSError):
                failures += 1
                if failures == 1 or failures % 30 == 0:
                    log.warning("event listener round failed; retrying", exc_info=True)
                await asyncio.sleep(min(10.0, 0.1 * 2**failures))

    async def _ensure_group(self) -> None:
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
            await self.redis.xgroup_create(ALL_STREAM, self.group, id="$", mkstream=True)

    async def step(self) -> None:
        now = time.monotonic()
        if now - self._last_claim >= self.claim_idle_ms / 2000:
            self._last_claim = now
            # Entries a member that died was handling (or a stopped process left).
            claimed: Any = await self.redis.xautoclaim(
                ALL_STREAM,
                self.group,
                self.consumer,
                min_idle_time=self.claim_idle_ms,
                start_id="0-0",
                count=_BATCH,
            )
            await self._take(claimed[1])
            if not claimed[1]:
                await forget_departed(
                    self.redis, ALL_STREAM, self.group, me=self.consumer,
                    silent_ms=self.state.settings.events_forget_after_ms,
                )  # fmt: skip
        answer: Any = await self.redis.xreadgroup(
            self.group, self.consumer, {ALL_STREAM: ">"}, count=_BATCH, block=_BLOCK_MS
        )
        for _stream, entries in answer or []:
            await self._take(entries)

    async def _take(self, entries: list[tuple[bytes, dict[bytes, bytes] | None]]) -> None:
        followed: list[tuple[bytes, dict[str, Any]]] = []
        others: list[bytes] = []
        for entry_id, fields in entries:
            kind = (fields or {}).get(b"type", b"").decode()
            if fields and kind in FOLLOWED:
                followed.append((entry_id, json.loads(fields[b"event"])))
            else:  # not ours to follow (or trimmed away while pending)
                others.append(entry_id)
        # Most of the stream is other services' news: acknowledged in one call per batch,
        # not one round trip per event of the whole platform.
        if others:
            await self.redis.xack(ALL_STREAM, self.group, *others)
        for entry_id, event in followed:
            await self._spawn(entry_id, event)

    async def _spawn(self, entry_id: bytes, event: dict[str, Any]) -> None:
        await self.slots.acquire()

        async def one() -> None:
            try:
                await handle(self.state, event)
            except Exception:  # one event must not stop the listener
                log.exception("event handling failed")
            finally:
                self.slots.release()
            # Not reached when the process stops mid-way (a cancel): the entry stays
            # pending for another member. If Redis is away now, it is handled again later.
            with contextlib.suppress(RedisError, OSError):
                await self.redis.xack(ALL_STREAM, self.group, entry_id)

        task = asyncio.create_task(one())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


@asynccontextmanager
async def listener(state: WalletState, redis: aioredis.Redis) -> AsyncIterator[None]:
    """Payments' news followed while the block lasts (unless `follow_events` is off)."""
    if not state.settings.follow_events:
        yield
        return
    found = Listener(state, redis, group=state.settings.events_group)
    task = asyncio.create_task(found.run())
    try:
        yield
    finally:
        await stop(task, *found.tasks)
