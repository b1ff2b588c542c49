"""One wallet world (ledger, payments and wallet on real ports) per test module."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.servers import PostgresHandle
from tests.support.wallet import World, new_tenant, world


@pytest.fixture(scope="module")
async def services(
    pg: PostgresHandle, templates: dict[str, str], redis_url: str
) -> AsyncIterator[World]:
    async with world(pg, templates, redis_url) as found:
        yield found


@pytest.fixture
def http(services: World) -> httpx.AsyncClient:
    return services.http


@pytest.fixture
def tenant() -> str:
    return new_tenant()
