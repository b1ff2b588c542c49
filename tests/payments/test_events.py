"""Every state change writes exactly one event of the right type, in its own transaction;
a refused request writes none."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import ServiceClient
from tests.fakes.providers import FakeProvider, serve
from tests.support.asgi import identity_headers
from tests.support.payments import payments_client

BASE = "/payments/payment_intents"
BANK = {"account_number": "0123456789", "bank_code": "058"}


def key() -> dict[str, str]:
    return identity_headers(tenant_id="ten_events")


@pytest.fixture
async def paystack() -> AsyncIterator[FakeProvider]:
    async with serve(FakeProvider("paystack", "sk_test_events_0001")) as fake:
        yield fake


@pytest.fixture
async def client(
    service_client: ServiceClient, dsn: str, paystack: FakeProvider
) -> AsyncIterator[httpx.AsyncClient]:
    async with payments_client(
        service_client, dsn, relay_interval=3600, paystack_base_url=paystack.url,
        paystack_secret_key=paystack.secret_key, provider_timeout=0.3,
    ) as http:  # fmt: skip
        yield http


class Outbox:
    """The events written since the last look."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.seen = 0

    async def new(self) -> list[dict[str, Any]]:
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch(
                # An attempt's own events (payment_attempt.*) are tests/payments/
                # test_failover.py's; here, the objects' state changes.
                "SELECT seq, type, payload FROM outbox WHERE seq > $1 "
                "AND type NOT LIKE 'payment_attempt.%' ORDER BY seq",
                self.seen,
            )
        finally:
            await conn.close()
        if rows:
            self.seen = rows[-1]["seq"]
        events = [json.loads(r["payload"]) for r in rows]
        assert [e["type"] for e in events] == [r["type"] for r in rows]
        return events

    async def types(self) -> list[str]:
        return [e["type"] for e in await self.new()]


@pytest.fixture
async def outbox(dsn: str) -> Outbox:
    return Outbox(dsn)


async def post(client: httpx.AsyncClient, path: str, **body: Any) -> httpx.Response:
    return await client.post(path, json=body, headers=key())


async def test_create_then_succeed(client: httpx.AsyncClient, outbox: Outbox) -> None:
    intent = (await post(client, BASE, amount=500, currency="usd")).json()
    [created] = await outbox.new()
    assert created["type"] == "payment_intent.created"
    assert created["data"]["object"] == intent
    assert (created["tenant_id"], created["livemode"]) == ("ten_events", False)
    done = await post(client, f"{BASE}/{intent['id']}/confirm", payment_method="pm_card_visa")
    [succeeded] = await outbox.new()
    assert succeeded["type"] == "payment_intent.succeeded"
    assert succeeded["data"]["object"] == done.json()


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("pm_card_chargeDeclined", "payment_intent.payment_failed"),
        ("pm_card_authenticationRequired", "payment_intent.requires_action"),
    ],
)
async def test_confirm_outcomes(
    client: httpx.AsyncClient, outbox: Outbox, method: str, expected: str
) -> None:
    intent = (await post(client, BASE, amount=500, currency="usd")).json()
    await outbox.new()
    await post(client, f"{BASE}/{intent['id']}/confirm", payment_method=method)
    assert await outbox.types() == [expected]


async def test_manual_capture_and_cancel(client: httpx.AsyncClient, outbox: Outbox) -> None:
    intent = (
        await post(client, BASE, amount=500, currency="usd", capture_method="manual",
                   payment_method="pm_card_visa", confirm=True)
    ).json()  # fmt: skip
    assert await outbox.types() == [
        "payment_intent.created",
        "payment_intent.amount_capturable_updated",
    ]
    await post(client, f"{BASE}/{intent['id']}/capture", amount_to_capture=300)
    assert await outbox.types() == ["payment_intent.succeeded"]
    other = (await post(client, BASE, amount=500, currency="usd")).json()
    await outbox.new()
    await post(client, f"{BASE}/{other['id']}/cancel", cancellation_reason="duplicate")
    [canceled] = await outbox.new()
    assert canceled["type"] == "payment_intent.canceled"
    assert canceled["data"]["object"]["cancellation_reason"] == "duplicate"


async def test_processing(
    client: httpx.AsyncClient, outbox: Outbox, paystack: FakeProvider
) -> None:
    paystack.slow.add("initialize")
    paystack.delay = 1.0
    await post(client, BASE, amount=500, currency="ngn", provider="paystack",
               receipt_email="a@example.com", confirm=True)  # fmt: skip
    assert await outbox.types() == ["payment_intent.created", "payment_intent.processing"]


async def test_refund(client: httpx.AsyncClient, outbox: Outbox) -> None:
    intent = (
        await post(client, BASE, amount=500, currency="usd", payment_method="pm_card_visa",
                   confirm=True)
    ).json()  # fmt: skip
    await outbox.new()
    refund = (await post(client, "/payments/refunds", payment_intent=intent["id"])).json()
    events = await outbox.new()
    # The simulator's refund completes at once: created, then its change to succeeded.
    assert [e["type"] for e in events] == ["refund.created", "refund.updated", "refund.succeeded"]
    assert all(e["data"]["object"] == refund for e in events)


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        ("0123456789", ["payout.created", "payout.paid"]),
        ("0000000000", ["payout.created", "payout.failed"]),
        ("1111111111", ["payout.created"]),
    ],
)
async def test_payouts(
    client: httpx.AsyncClient, outbox: Outbox, account: str, expected: list[str]
) -> None:
    await post(client, "/payments/payouts", amount=100, currency="ngn",
               destination={**BANK, "account_number": account})  # fmt: skip
    assert await outbox.types() == expected


async def test_refused_requests_write_no_event(client: httpx.AsyncClient, outbox: Outbox) -> None:
    intent = (
        await post(client, BASE, amount=500, currency="usd", payment_method="pm_card_visa",
                   confirm=True)
    ).json()  # fmt: skip
    await outbox.new()
    wrong_state = await post(client, f"{BASE}/{intent['id']}/confirm")
    bad_input = await post(client, BASE, amount=-1, currency="usd")
    too_much = await post(client, "/payments/refunds", payment_intent=intent["id"], amount=501)
    unknown = await post(client, f"{BASE}/pi_unknown/cancel")
    assert [r.status_code for r in (wrong_state, bad_input, too_much, unknown)] == [
        400, 400, 400, 404
    ]  # fmt: skip
    assert await outbox.types() == []
