"""One Redis pub/sub connection per gateway process, fanned out to its listeners.

Pub/sub is only the doorbell. A notification (or a (re)subscription, or the periodic safety
poll) wakes every listener of that channel, and each listener then reads the tenant's stream
with XRANGE after the last entry it sent. Reading the stream rather than trusting the
message is what makes the relay gap-free and ordered: several services publish into one
tenant's stream, so messages can arrive out of entry-id order, but an entry visible to
XRANGE implies every earlier entry is visible too. A dropped subscription (Redis restart)
loses notifications, never events: the resubscription wakes everyone to re-read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from shared.aio import wait_event
from shared.redis_url import connect as connect_redis

log = logging.getLogger("micro.gateway.relay")

_READ_TIMEOUT = 0.1
_MAX_BACKOFF = 5.0


class Hub:
    def __init__(self, redis_url: str, *, poll_seconds: float, timeout: float) -> None:
        self.redis_url = redis_url
        self.poll_seconds = poll_seconds
        self.timeout = timeout
        self._listeners: dict[str, set[asyncio.Event]] = {}
        # Channels Redis confirmed on the current connection.
        self._subscribed: set[str] = set()
        self._changed = asyncio.Event()

    @contextlib.asynccontextmanager
    async def watch(self, channel: str) -> AsyncIterator[asyncio.Event]:
        """An event set whenever the channel's stream may hold something new.

        It is set for the first time once the subscription is live, so a read made after
        that misses nothing published before it.
        """
        wake = asyncio.Event()
        self._listeners.setdefault(channel, set()).add(wake)
        if channel in self._subscribed:
            wake.set()
        self._changed.set()
        try:
            yield wake
        finally:
            members = self._listeners.get(channel)
            if members is not None:
                members.discard(wake)
                if not members:
                    del self._listeners[channel]
                    self._changed.set()

    @property
    def listeners(self) -> int:
        return sum(len(members) for members in self._listeners.values())

    def _wake(self, channel: str) -> None:
        for wake in self._listeners.get(channel, ()):
            wake.set()

    def _wake_all(self) -> None:
        for channel in self._listeners:
            self._wake(channel)

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the subscription matching the listeners until `stop`; survive Redis restarts.

        `stop` ends the loop: redis-py's pub/sub read can swallow a task cancellation.
        """
        failures = 0
        while not stop.is_set():
            client = connect_redis(
                self.redis_url, socket_connect_timeout=self.timeout, health_check_interval=5
            )
            try:
                async with client.pubsub() as pubsub:
                    await self._serve(pubsub, stop)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis went away: listeners keep their cursors and re-read
                failures += 1
                if failures == 1 or failures % 30 == 0:
                    log.warning("relay subscription lost; retrying", exc_info=True)
                await wait_event(stop, min(_MAX_BACKOFF, 0.1 * 2**failures))
            finally:
                self._subscribed.clear()
                await client.aclose()

    async def _serve(self, pubsub: aioredis.client.PubSub, stop: asyncio.Event) -> None:
        requested: set[str] = set()
        polled = time.monotonic()
        while not stop.is_set():
            wanted = set(self._listeners)
            if wanted - requested:
                await pubsub.subscribe(*(wanted - requested))
            if requested - wanted:
                await pubsub.unsubscribe(*(requested - wanted))
                self._subscribed -= requested - wanted
            requested = wanted
            if not requested and not pubsub.subscribed:
                # Nothing to read on an idle connection; wait for a listener.
                self._changed.clear()
                await wait_event(self._changed, _READ_TIMEOUT * 10)
                continue
            message = await pubsub.get_message(timeout=_READ_TIMEOUT)
            if message is not None:
                self._on_message(message)
            if time.monotonic() - polled >= self.poll_seconds:
                polled = time.monotonic()
                self._wake_all()

    def _on_message(self, message: dict[str, object]) -> None:
        raw = message.get("channel")
        channel = raw.decode() if isinstance(raw, bytes) else str(raw)
        kind = message.get("type")
        if kind == "subscribe":
            self._subscribed.add(channel)
            self._wake(channel)
        elif kind == "message":
            self._wake(channel)
