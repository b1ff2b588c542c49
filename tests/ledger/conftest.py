"""The ledger app in-process on a fresh database, per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import ServiceClient


@pytest.fixture
async def client(service_client: ServiceClient) -> AsyncIterator[httpx.AsyncClient]:
    # A sweep far in the future: only the expiry tests that want the sweeper turn it on.
    async with service_client("ledger", sweep_interval=60) as ledger:
        yield ledger
