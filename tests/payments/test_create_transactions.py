"""A new intent with nothing to ask another service first (no wallet) reads its currency's
route in its own transaction: one pooled connection for the whole create (#19: one
transaction fewer per payment), and the route still chooses the provider."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from shared import outbox
from tests.conftest import ServiceClient
from tests.support.asgi import identity_headers
from tests.support.payments import payments_client

BASE = "/payments/payment_intents"
_counting: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "counting_acquires", default=None
)


@pytest.fixture
async def client(service_client: ServiceClient, dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    async with payments_client(service_client, dsn, relay_interval=3600) as http:
        yield http


@pytest.fixture
def acquired(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The pooled connections the request under test takes (its own context only: the
    service's background loops are not counted)."""
    original = asyncpg.Pool.acquire

    def acquire(self: asyncpg.Pool, *args: Any, **kwargs: Any) -> Any:
        seen = _counting.get()
        if seen is not None:
            seen.append("acquire")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Pool, "acquire", acquire)
    found: list[str] = []
    _counting.set(found)
    return found


async def test_a_create_takes_one_pooled_connection(
    client: httpx.AsyncClient, acquired: list[str]
) -> None:
    headers = identity_headers(tenant_id="ten_one")
    response = await client.post(BASE, json={"amount": 5000, "currency": "usd"}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "requires_payment_method"
    assert len(acquired) == 1


async def test_the_route_read_in_the_same_transaction_still_chooses_the_provider(
    client: httpx.AsyncClient, acquired: list[str]
) -> None:
    headers = identity_headers(tenant_id="ten_routed")
    routed = await client.put("/payments/routing/usd", json={"providers": ["paystack"]},
                              headers=headers)  # fmt: skip
    assert routed.status_code == 200, routed.text
    acquired.clear()
    response = await client.post(BASE, json={"amount": 5000, "currency": "usd"}, headers=headers)
    # No Paystack account for this tenant: the route's refusal, from the one transaction.
    assert response.status_code == 400, response.text
    assert len(acquired) == 1


async def test_a_confirmed_create_writes_its_events_in_one_statement_in_order(
    client: httpx.AsyncClient, dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements: list[int] = []
    one, many = outbox.emit, outbox.emit_many

    async def emit(*args: Any, **kwargs: Any) -> str:
        statements.append(1)
        return await one(*args, **kwargs)

    async def emit_many(conn: Any, identity: Any, events: Any) -> list[str]:
        statements.append(len(events))
        return await many(conn, identity, events)

    monkeypatch.setattr(outbox, "emit", emit)
    monkeypatch.setattr(outbox, "emit_many", emit_many)
    headers = identity_headers(tenant_id="ten_batched")
    response = await client.post(
        BASE,
        json={"amount": 5000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    intent = response.json()
    assert statements == [4]
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT type, payload::jsonb -> 'data' -> 'object' ->> 'status' AS status "
            "FROM outbox WHERE tenant_id = 'ten_batched' ORDER BY seq"
        )
    finally:
        await conn.close()
    assert [(r["type"], r["status"]) for r in rows] == [
        ("payment_intent.created", "requires_confirmation"),
        ("payment_attempt.created", "pending"),
        ("payment_intent.succeeded", "succeeded"),
        ("payment_attempt.updated", "succeeded"),
    ], intent
