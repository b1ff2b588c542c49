"""Fixtures every payments test module may use: its own database, the providers' fakes
with the platform's keys, and the service in front of them (a module that needs other keys
or settings defines its own)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import CreateDb, ServiceClient
from tests.fakes.providers import FakeProvider, serve
from tests.support.payments import FLUTTERWAVE_KEY, PAYSTACK_KEY, overrides, payments_client


@pytest.fixture
async def dsn(create_db: CreateDb) -> str:
    return await create_db("payments")


@pytest.fixture
async def paystack() -> AsyncIterator[FakeProvider]:
    async with serve(FakeProvider("paystack", PAYSTACK_KEY)) as fake:
        yield fake


@pytest.fixture
async def flutterwave() -> AsyncIterator[FakeProvider]:
    async with serve(FakeProvider("flutterwave", FLUTTERWAVE_KEY)) as fake:
        yield fake


@pytest.fixture
async def client(
    service_client: ServiceClient, dsn: str, paystack: FakeProvider, flutterwave: FakeProvider
) -> AsyncIterator[httpx.AsyncClient]:
    """The service, its providers the fakes above (a module needing other settings defines
    its own `client`)."""
    async with payments_client(service_client, dsn, **overrides(paystack, flutterwave)) as http:
        yield http
