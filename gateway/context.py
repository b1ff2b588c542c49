"""What the gateway opens once per process: the upstream client, credentials, rate limiter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from starlette.requests import HTTPConnection

from gateway.credentials import Credentials
from gateway.proxy import new_client
from gateway.ratelimit import RateLimiter, RedisGuard
from gateway.settings import GatewaySettings
from gateway.watchers import Watchers
from shared import aio
from shared.identity import TokenCache
from shared.internal_client import open_internal_client
from shared.state import AppState, app_state

_KEY = "gateway"


@dataclass(slots=True)
class Gateway:
    settings: GatewaySettings
    client: aiohttp.ClientSession
    credentials: Credentials
    limiter: RateLimiter
    tokens: TokenCache
    # Open /cli/listen sockets, ended when their credential or tenant is.
    watchers: Watchers


@asynccontextmanager
async def gateway_context(state: AppState) -> AsyncIterator[None]:
    settings = state.settings
    assert isinstance(settings, GatewaySettings)
    guard = RedisGuard()
    async with (
        new_client(
            max_connections=settings.upstream_max_connections,
            timeout=settings.upstream_timeout,
            connect_timeout=settings.upstream_connect_timeout,
        ) as client,
        open_internal_client(settings) as internal,
    ):
        credentials = Credentials(
            auth=internal.upstream("auth", settings.auth_url),
            redis=state.redis,
            guard=guard,
            key_cache_seconds=settings.key_cache_seconds,
        )
        watchers = Watchers()
        state.extras[_KEY] = Gateway(
            settings=settings,
            client=client,
            credentials=credentials,
            limiter=RateLimiter(
                state.redis, guard, window_seconds=settings.rate_limit_window_seconds
            ),
            tokens=TokenCache(settings.identity_key),
            watchers=watchers,
        )
        stop = asyncio.Event()
        listener = asyncio.create_task(
            credentials.listen_for_invalidations(settings.redis_url, stop, watchers)
        )
        try:
            yield
        finally:
            stop.set()
            await asyncio.wait({listener}, timeout=2)
            await aio.stop(listener)


def gateway_of(conn: HTTPConnection) -> Gateway:
    gateway = app_state(conn).extras[_KEY]
    assert isinstance(gateway, Gateway)
    return gateway
