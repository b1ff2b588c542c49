"""The events service's background work, started in the app's lifespan: the stream
consumer and the delivery worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver

from services.events.service.consumer import StreamConsumer
from services.events.service.delivery import Deliverer, http_sessions
from services.events.service.endpoints import UrlPolicy
from services.events.service.signing import encrypt_plain_secrets, endpoint_cipher
from services.events.settings import EventsSettings
from shared.aio import stop
from shared.app import redis_client
from shared.cipher import Cipher
from shared.state import AppState

DELIVERER_KEY = "deliverer"
CONSUMER_KEY = "consumer"
POLICY_KEY = "url_policy"
CIPHER_KEY = "webhook_secrets_cipher"
# Seconds a stopping process gives the deliveries under way to finish.
_STOP_GRACE = 5.0


def event_workers(
    resolver: AbstractResolver | None = None,
) -> Callable[[AppState], AbstractAsyncContextManager[None]]:
    """The lifespan hook; `resolver` looks up endpoint hosts (tests pass one they control)."""

    @asynccontextmanager
    async def hook(state: AppState) -> AsyncIterator[None]:
        settings = state.settings
        assert isinstance(settings, EventsSettings)
        cipher = endpoint_cipher(settings)
        state.extras[CIPHER_KEY] = cipher
        # Before any delivery is signed: secrets of earlier versions are still plain text.
        await encrypt_plain_secrets(state.db, cipher)
        lookup = resolver or DefaultResolver()
        state.extras[POLICY_KEY] = UrlPolicy(
            resolver=lookup, allow_private_live=settings.allow_private_live_urls
        )
        # Its own Redis client: a blocking XREADGROUP outlasts the shared client's timeout.
        stream_redis = redis_client(
            settings, read_timeout=settings.consumer_block_ms / 1000 + settings.redis_timeout + 1
        )
        async with http_sessions(settings.delivery_concurrency, resolver=lookup) as sessions:
            deliverer = Deliverer(state.db, settings, sessions)
            consumer = StreamConsumer(
                state.db, stream_redis, settings, on_deliveries=deliverer.wake
            )
            state.extras[DELIVERER_KEY] = deliverer
            state.extras[CONSUMER_KEY] = consumer
            tasks = [asyncio.create_task(deliverer.run()), asyncio.create_task(consumer.run())]
            try:
                yield
            finally:
                await stop(*tasks)
                await deliverer.stop(grace=_STOP_GRACE)
                await stream_redis.aclose()

    return hook


def deliverer_of(state: AppState) -> Deliverer:
    deliverer = state.extras[DELIVERER_KEY]
    assert isinstance(deliverer, Deliverer)
    return deliverer


def cipher_of(state: AppState) -> Cipher:
    cipher = state.extras[CIPHER_KEY]
    assert isinstance(cipher, Cipher)
    return cipher


def url_policy_of(state: AppState) -> UrlPolicy:
    policy = state.extras[POLICY_KEY]
    assert isinstance(policy, UrlPolicy)
    return policy
