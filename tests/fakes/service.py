"""The payments service in-process for tests, on its own database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from tests.conftest import ServiceClient


@contextlib.asynccontextmanager
async def payments_client(
    service_client: ServiceClient, dsn: str, **overrides: object
) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client("payments", database_url=dsn, **overrides) as client:
        yield client
