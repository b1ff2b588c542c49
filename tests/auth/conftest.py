"""The auth service in-process on its own fresh database, per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from tests.conftest import CreateDb, ServiceClient


@pytest.fixture
async def auth_dsn(create_db: CreateDb) -> str:
    return await create_db("auth")


@pytest.fixture
async def auth(service_client: ServiceClient, auth_dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client("auth", database_url=auth_dsn) as client:
        yield client


@pytest.fixture
async def auth_db(auth_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """The service's database, as its own role: to see what a request left behind."""
    conn = await asyncpg.connect(auth_dsn)
    yield conn
    await conn.close()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()
