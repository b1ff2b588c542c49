"""Reads the global event stream into the log, through a Redis consumer group.

Every replica joins the group under its own name; Redis hands each entry to one of them. An
entry is acknowledged only after the transaction that stored it commits, so a crash between
the two leaves it pending and it is read again (the log's dedup by event id makes that
harmless). Entries left pending by a consumer that died are taken over with XAUTOCLAIM once
they have been idle for `claim_idle_ms`; a restarted process first reads back its own.

Redis going away is waited out with backoff; if it comes back without the stream (a restart
without persistence), the group is created again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from opentelemetry.trace import SpanKind
from redis.exceptions import RedisError, ResponseError

from services.events.repository import events as events_repo
from services.events.service.events import ingest, parse_event
from services.events.service.urls import UrlPolicy
from services.events.settings import EventsSettings
from shared.cipher import Cipher
from shared.consumer_groups import forget_departed
from shared.db import Pool, transaction
from shared.outbox import ALL_STREAM
from shared.tracing import client_span, current_traceparent, enabled, valid_traceparent

log = logging.getLogger("micro.events.consumer")

_MAX_BACKOFF = 5.0
Entry = tuple[bytes, dict[bytes, bytes] | None]


class StreamConsumer:
    def __init__(
        self,
        pool: Pool,
        redis: aioredis.Redis,
        settings: EventsSettings,
        *,
        cipher: Cipher,
        on_deliveries: Callable[[], None] = lambda: None,
    ) -> None:
        self.pool = pool
        self.redis = redis
        self.settings = settings
        self.on_deliveries = on_deliveries
        self.stream = ALL_STREAM
        self._cipher = cipher
        # A tenant's webhook_url is checked inside the batch's transaction, so by its host
        # alone (no DNS lookup there); every delivery resolves and checks again.
        self._url_policy = UrlPolicy(
            resolver=None, allow_private_live=settings.allow_private_live_urls
        )
        self._group_ready = False
        # Read our own pending entries (id 0) before new ones (>): at start, and after any
        # failure, since entries handed to us but not stored are not handed out again.
        self._backlog = True
        self._last_claim = 0.0

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await self.step()
                failures = 0
            except ResponseError as exc:
                # NOGROUP: the stream (and its group) is gone; UNBLOCKED: it went while we
                # were waiting on it.
                if not str(exc).startswith(("NOGROUP", "UNBLOCKED")):
                    log.exception("event consumer round failed")
                    await asyncio.sleep(_MAX_BACKOFF)
                    continue
                log.warning("the event stream or its group vanished; creating it again")
                self._group_ready = False
                self._backlog = True
            except (RedisError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                failures += 1
                self._backlog = True
                if failures == 1 or failures % 30 == 0:
                    log.warning("event consumer round failed; retrying", exc_info=True)
                await asyncio.sleep(min(_MAX_BACKOFF, 0.05 * 2**failures))
            except Exception:
                # A bug must not end consumption for good: entries stay pending meanwhile.
                failures += 1
                self._backlog = True
                log.exception("event consumer round failed unexpectedly")
                await asyncio.sleep(_MAX_BACKOFF)

    async def step(self) -> int:
        """One round: the backlog, abandoned entries, or a blocking read of new ones."""
        await self._ensure_group()
        if self._backlog:
            handled = await self._read("0", block=None)
            if handled == 0:
                self._backlog = False
            return handled
        now = time.monotonic()
        if now - self._last_claim >= self.settings.claim_idle_ms / 2000:
            self._last_claim = now
            claimed = await self._claim_abandoned()
            if claimed:
                return claimed
        return await self._read(">", block=self.settings.consumer_block_ms)

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            # From the start of what the stream retains: nothing published before the
            # service's first start is missed, and dedup absorbs what is already logged.
            await self.redis.xgroup_create(
                self.stream, self.settings.consumer_group, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def _read(self, start: str, *, block: int | None) -> int:
        answer: Any = await self.redis.xreadgroup(
            self.settings.consumer_group,
            self.settings.consumer_name,
            {self.stream: start},
            count=self.settings.consumer_batch,
            block=block,
        )
        entries: list[Entry] = []
        for _stream, messages in answer or []:
            entries.extend(messages)
        await self.handle(entries)
        return len(entries)

    async def _claim_abandoned(self) -> int:
        """Take over entries a dead consumer left pending."""
        answer: Any = await self.redis.xautoclaim(
            self.stream,
            self.settings.consumer_group,
            self.settings.consumer_name,
            min_idle_time=self.settings.claim_idle_ms,
            start_id="0-0",
            count=self.settings.consumer_batch,
        )
        entries: list[Entry] = list(answer[1])
        if entries:
            log.info("took over abandoned event entries", extra={"count": len(entries)})
        await self.handle(entries)
        if not entries:
            await self._forget_departed()
        return len(entries)

    async def _forget_departed(self) -> None:
        await forget_departed(
            self.redis,
            self.stream,
            self.settings.consumer_group,
            me=self.settings.consumer_name,
            silent_ms=self.settings.forget_consumers_after_ms,
        )

    async def handle(self, entries: Sequence[Entry]) -> None:
        """Store a batch, then acknowledge it. Entries that are not events are logged and
        acknowledged too: reading them again would never make them valid."""
        if not entries:
            return
        batch: list[events_repo.Event] = []
        for entry_id, fields in entries:
            event = _event_of(entry_id, fields)
            if event is not None:
                batch.append(event)
        async with contextlib.AsyncExitStack() as spans:
            if enabled():
                batch = _in_spans(batch, spans)
            async with transaction(self.pool) as conn:
                owed = await ingest(conn, batch, policy=self._url_policy, cipher=self._cipher)
            await self.redis.xack(
                self.stream, self.settings.consumer_group, *[entry_id for entry_id, _ in entries]
            )
        if owed:
            self.on_deliveries()


def _in_spans(
    batch: list[events_repo.Event], spans: contextlib.AsyncExitStack
) -> list[events_repo.Event]:
    """One CONSUMER span per trace in the batch, a child of the relay's; each event then
    belongs to its trace's span, which its deliveries continue."""
    by_trace: dict[str, list[events_repo.Event]] = {}
    for event in batch:
        if event.traceparent:
            by_trace.setdefault(event.traceparent[3:35], []).append(event)
    own: dict[str, str | None] = {}
    for traced in by_trace.values():
        first = traced[0]
        spans.enter_context(
            client_span(
                "events ingest",
                parent=first.traceparent,
                kind=SpanKind.CONSUMER,
                attributes={
                    "micro.tenant_id": first.tenant_id,
                    "micro.mode": "live" if first.livemode else "test",
                    "micro.event_ids": [event.id for event in traced],
                    "micro.event_types": [event.type for event in traced],
                },
            )
        )
        parent = current_traceparent()
        for event in traced:
            own[event.id] = parent or event.traceparent
    return [replace(event, traceparent=own.get(event.id, event.traceparent)) for event in batch]


def _event_of(entry_id: bytes, fields: dict[bytes, bytes] | None) -> events_repo.Event | None:
    if not fields:  # trimmed away while it was pending
        return None
    try:
        event = parse_event(fields[b"event"].decode())
        if event.id != fields[b"id"].decode():
            raise ValueError("the entry's id is not its event's id")
    except (KeyError, ValueError, UnicodeDecodeError, OverflowError, OSError) as exc:
        log.error("skipping a malformed event entry", extra={"entry": entry_id, "reason": str(exc)})
        return None
    traceparent = valid_traceparent(fields.get(b"traceparent"))
    return replace(event, traceparent=traceparent) if traceparent else event
