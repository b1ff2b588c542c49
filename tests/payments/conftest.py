"""Fixtures every payments test module may use: its own database, and the providers'
fakes with the platform's keys (a module that needs other keys defines its own)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import CreateDb
from tests.fakes.providers import FakeProvider, serve
from tests.support.payments import FLUTTERWAVE_KEY, PAYSTACK_KEY


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
