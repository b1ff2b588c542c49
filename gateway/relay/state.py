"""What the relay opens once per gateway process: its pub/sub hub and a Redis client.

Part of the gateway's state (`gateway.state.GatewayState.relay`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.relay.hub import Hub
from gateway.settings import GatewaySettings
from shared import aio
from shared.redis_url import connect as connect_redis


@dataclass(frozen=True, slots=True)
class Relay:
    settings: GatewaySettings
    hub: Hub
    # Its own client: stream reads are bigger than the gateway's per-request calls, so they
    # get a longer timeout than the rate limiter's.
    redis: aioredis.Redis


@asynccontextmanager
async def open_relay(settings: GatewaySettings) -> AsyncIterator[Relay]:
    redis = connect_redis(
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
    stop = asyncio.Event()
    task = asyncio.create_task(hub.run(stop))
    try:
        yield Relay(settings, hub, redis)
    finally:
        stop.set()
        await asyncio.wait({task}, timeout=2)
        await aio.stop(task)
        await redis.aclose()
