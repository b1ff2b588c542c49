"""One events service per test module (its tests work in tenants of their own), a Redis
client to publish with, and a webhook receiver per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.support.events import EventsService, events_service
from tests.support.servers import PostgresHandle
from tests.support.webhook_receiver import Receiver, webhook_receiver


@pytest.fixture(scope="module")
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(scope="module")
async def service(
    pg: PostgresHandle, templates: dict[str, str], redis_url: str
) -> AsyncIterator[EventsService]:
    async with events_service(pg, templates, redis_url) as running:
        yield running


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with webhook_receiver() as running:
        yield running
