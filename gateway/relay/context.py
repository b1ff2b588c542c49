"""What the relay opens once per gateway process: its pub/sub hub and a Redis client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from starlette.requests import HTTPConnection

from gateway.relay.hub import Hub
from gateway.settings import GatewaySettings
from shared import aio
from shared.state import AppState, app_state

_KEY = "relay"


@dataclass(slots=True)
class Relay:
    settings: GatewaySettings
    hub: Hub
    # Its own client: stream reads are bigger than the gateway's per-request calls, so they
    # get a longer timeout than the rate limiter's.
    redis: aioredis.Redis


@asynccontextmanager
async def relay_context(state: AppState) -> AsyncIterator[None]:
    settings = state.settings
    assert isinstance(settings, GatewaySettings)
    redis = aioredis.Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.relay_redis_timeout,
        socket_connect_timeout=settings.relay_redis_timeout,
        retry=Retry(NoBackoff(), 0),
    )
    hub = Hub(
        settings.redis_url,
        poll_seconds=settings.relay_poll_seconds,
        timeout=settings.relay_redis_timeout,
    )
    state.extras[_KEY] = Relay(settings, hub, redis)
    stop = asyncio.Event()
    task = asyncio.create_task(hub.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait({task}, timeout=2)
        await aio.stop(task)
        await redis.aclose()


def relay_of(conn: HTTPConnection) -> Relay:
    relay = app_state(conn).extras[_KEY]
    assert isinstance(relay, Relay)
    return relay
