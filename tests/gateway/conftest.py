"""The gateway tests' servers: a gateway on a free port, one with auth behind it, a Redis
client, and one whole in-process stack for the package."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from cli.apps import app_factory, settings_class
from tests.support.asgi import serve_with_uvicorn
from tests.support.relay import Gateway, Stack, gateway_app
from tests.support.secrets import TEST_SECRET_FIELDS
from tests.support.servers import CreateDb, PostgresHandle
from tests.support.stacks import ServicesStack, services_stack


@pytest.fixture
def gateway(redis_url: str) -> Gateway:
    """`async with gateway(**settings) as host:` a gateway on a free port."""

    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[str]:
        settings = {"redis_url": redis_url, **overrides}
        async with serve_with_uvicorn(gateway_app(**settings)) as host:
            yield host

    return start


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def with_auth(create_db: CreateDb, redis_url: str) -> AsyncIterator[Stack]:
    auth_settings = settings_class("auth").model_validate(
        {
            "redis_url": redis_url,
            "database_url": await create_db("auth"),
            "bcrypt_rounds": 4,
            **TEST_SECRET_FIELDS,
        }
    )
    async with serve_with_uvicorn(app_factory("auth")(auth_settings)) as auth_host:
        auth_url = f"http://{auth_host}"
        app = gateway_app(redis_url, auth_url=auth_url)
        async with (
            serve_with_uvicorn(app) as host,
            httpx.AsyncClient(base_url=f"http://{host}") as client,
        ):
            yield Stack(host, client, auth_url, redis_url)


@pytest.fixture(scope="package")
async def stack(
    pg: PostgresHandle, templates: dict[str, str], redis_url: str
) -> AsyncIterator[ServicesStack]:
    """One stack for the modules that go through the outside door (live mode, the Stripe
    dialect): every test makes its own tenants, so none sees another's, and the five apps
    start once for the package instead of once per module."""
    async with services_stack(pg, templates, redis_url) as running:
        yield running
