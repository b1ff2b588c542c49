"""What the gateway opens once per process: the upstream client, credentials, rate limiter
and the relay, in one typed object reached with `gateway_state`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import aiohttp
from starlette.requests import HTTPConnection

from gateway.credentials import Credentials
from gateway.proxy import new_client
from gateway.ratelimit import RateLimiter, RedisGuard
from gateway.relay.state import Relay, open_relay
from gateway.settings import GatewaySettings
from gateway.watchers import Watchers
from shared import aio
from shared.balancer import Replicas
from shared.identity import TokenCache
from shared.internal_client import open_internal_client
from shared.state import AppState, ServiceLifespan, service_state


@dataclass(frozen=True, slots=True)
class GatewayState:
    settings: GatewaySettings
    client: aiohttp.ClientSession
    # Each service's replicas, by service name: one round-robin and one set of down marks
    # per service for the whole process.
    upstreams: Mapping[str, Replicas]
    credentials: Credentials
    limiter: RateLimiter
    tokens: TokenCache
    # Open /cli/listen sockets, ended when their credential or tenant is.
    watchers: Watchers
    relay: Relay


def gateway_state(conn: HTTPConnection | AppState) -> GatewayState:
    return service_state(conn, GatewayState)


def gateway_lifespan(settings: GatewaySettings) -> ServiceLifespan:
    """The builder `create_service_app` runs once Redis is open, with the typed settings."""

    def build(state: AppState) -> AbstractAsyncContextManager[GatewayState]:
        return _open(settings, state)

    return build


@asynccontextmanager
async def _open(settings: GatewaySettings, state: AppState) -> AsyncIterator[GatewayState]:
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
        stop = asyncio.Event()
        listener = asyncio.create_task(
            credentials.listen_for_invalidations(settings.redis_url, stop, watchers)
        )
        try:
            async with open_relay(settings) as relay:
                yield GatewayState(
                    settings=settings,
                    client=client,
                    upstreams={
                        name: Replicas.parse(name, urls, down_seconds=settings.replica_down_seconds)
                        for name, urls in settings.upstreams().items()
                    },
                    credentials=credentials,
                    limiter=RateLimiter(
                        state.redis, guard, window_seconds=settings.rate_limit_window_seconds
                    ),
                    tokens=TokenCache(settings.identity_key),
                    watchers=watchers,
                    relay=relay,
                )
        finally:
            stop.set()
            await asyncio.wait({listener}, timeout=2)
            await aio.stop(listener)
