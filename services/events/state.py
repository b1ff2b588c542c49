"""What the events service opens once per process, reached through `events_state`.

`events_lifespan` builds it: the endpoint secrets' cipher (encrypting any secret still in
plain text before anything is signed), the URL policy, the delivery worker and the stream
consumer, both running until the app stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver
from starlette.requests import HTTPConnection

from services.events.service.consumer import StreamConsumer
from services.events.service.delivery import Deliverer, http_sessions
from services.events.service.signing import encrypt_plain_secrets, endpoint_cipher
from services.events.service.urls import UrlPolicy
from services.events.settings import EventsSettings
from shared.aio import stop
from shared.app import redis_client
from shared.cipher import Cipher
from shared.state import AppState, service_state

# Seconds a stopping process gives the deliveries under way to finish.
_STOP_GRACE = 5.0


@dataclass(frozen=True, slots=True)
class EventsState:
    settings: EventsSettings
    # Encrypts and decrypts webhook endpoint secrets.
    cipher: Cipher
    # How a URL sent to the API is judged (resolving its host).
    url_policy: UrlPolicy
    deliverer: Deliverer
    consumer: StreamConsumer


def events_state(conn: HTTPConnection | AppState) -> EventsState:
    return service_state(conn, EventsState)


def events_lifespan(
    settings: EventsSettings, resolver: AbstractResolver | None = None
) -> Callable[[AppState], AbstractAsyncContextManager[EventsState]]:
    """`resolver` looks up endpoint hosts (the system's unless a test passes one it controls)."""

    @asynccontextmanager
    async def build(state: AppState) -> AsyncIterator[EventsState]:
        cipher = endpoint_cipher(settings)
        # Before any delivery is signed: secrets of earlier versions are still plain text.
        await encrypt_plain_secrets(state.db, cipher)
        lookup = resolver or DefaultResolver()
        url_policy = UrlPolicy(resolver=lookup, allow_private_live=settings.allow_private_live_urls)
        # Its own Redis client: a blocking XREADGROUP outlasts the shared client's timeout.
        stream_redis = redis_client(
            settings, read_timeout=settings.consumer_block_ms / 1000 + settings.redis_timeout + 1
        )
        async with http_sessions(settings.delivery_concurrency, resolver=lookup) as sessions:
            deliverer = Deliverer(state.db, settings, sessions, cipher=cipher)
            consumer = StreamConsumer(
                state.db, stream_redis, settings, cipher=cipher, on_deliveries=deliverer.wake
            )
            tasks = [asyncio.create_task(deliverer.run()), asyncio.create_task(consumer.run())]
            try:
                yield EventsState(
                    settings=settings,
                    cipher=cipher,
                    url_policy=url_policy,
                    deliverer=deliverer,
                    consumer=consumer,
                )
            finally:
                await stop(*tasks)
                await deliverer.stop(grace=_STOP_GRACE)
                await stream_redis.aclose()

    return build
