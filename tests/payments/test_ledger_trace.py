"""A posting owed to the ledger is made in the trace of the request that owed it, even when
the background relay makes it (the request's own attempt found the ledger away): the ledger
outbox row keeps the request's `traceparent` and the relay's call carries it on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.conftest import CreateDb, ServiceClient
from tests.support.aiohttp_server import serving
from tests.support.asgi import identity_headers

CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
async def ledger() -> AsyncIterator[tuple[str, list[str | None]]]:
    """A ledger that is away (503) for the first posting, then takes everything; the
    traceparent of each posting it was sent."""
    postings: list[str | None] = []

    async def accounts(request: web.Request) -> web.Response:
        return web.json_response({"id": "acc_x"}, status=201)

    async def transactions(request: web.Request) -> web.Response:
        postings.append(request.headers.get("traceparent"))
        if len(postings) == 1:
            return web.json_response({"error": {"type": "api_error"}}, status=503)
        return web.json_response({"id": "txn_x"}, status=201)

    app = web.Application()
    app.router.add_post("/ledger/accounts", accounts)
    app.router.add_post("/ledger/transactions", transactions)
    async with serving(app) as url:
        yield url, postings


async def test_the_background_relays_posting_continues_the_owing_requests_trace(
    service_client: ServiceClient,
    create_db: CreateDb,
    ledger: tuple[str, list[str | None]],
) -> None:
    url, postings = ledger
    async with service_client(
        "payments", database_url=await create_db("payments"), ledger_url=url,
        relay_interval=0.05, internal_attempts=1,
    ) as payments:  # fmt: skip
        confirmed = await payments.post(
            "/payments/payment_intents",
            json={"amount": 700, "currency": "usd", "payment_method": "pm_card_visa",
                  "confirm": True},
            headers={**identity_headers(tenant_id="ten_traced"), "traceparent": CALLER},
        )  # fmt: skip
        assert confirmed.status_code == 200, confirmed.text
        for _ in range(200):
            if len(postings) >= 2:
                break
            await asyncio.sleep(0.05)
    # The request's own attempt, then the relay's retry after the request had ended.
    assert postings[:2] == [CALLER, CALLER]
