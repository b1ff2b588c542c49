"""The PaymentIntent list's filters (status, provider, created) and the payment volume
summary (`GET /payments/payment_intents/volume`), as the dashboard reads them."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import ServiceClient
from tests.support.asgi import identity_headers
from tests.support.payments import payments_client

BASE = "/payments/payment_intents"


def key(tenant: str = "ten_filters", livemode: bool = False) -> dict[str, str]:
    return identity_headers(tenant_id=tenant, livemode=livemode)


@pytest.fixture
async def client(service_client: ServiceClient, dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    async with payments_client(service_client, dsn, relay_interval=3600) as http:
        yield http


async def intent(
    client: httpx.AsyncClient, tenant: str = "ten_filters", **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        BASE, json={"amount": 5000, "currency": "usd", **fields}, headers=key(tenant)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def paid(client: httpx.AsyncClient, tenant: str = "ten_filters", **fields: Any) -> str:
    body = await intent(client, tenant, payment_method="pm_card_visa", confirm=True, **fields)
    assert body["status"] == "succeeded"
    return str(body["id"])


async def execute(dsn: str, query: str, *args: Any) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(query, *args)
    finally:
        await conn.close()


async def listed(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get(BASE, params=params, headers=key())
    assert response.status_code == 200, response.text
    return [found["id"] for found in response.json()["data"]]


class TestListFilters:
    async def test_status_provider_and_created(self, client: httpx.AsyncClient, dsn: str) -> None:
        unpaid = (await intent(client))["id"]
        first = await paid(client)
        second = await paid(client)
        canceled = (await intent(client))["id"]
        assert (await client.post(f"{BASE}/{canceled}/cancel", headers=key())).status_code == 200
        stranger = await paid(client, "ten_stranger")
        await execute(dsn, "UPDATE payment_intents SET provider = 'paystack' WHERE id = $1", second)
        # Three days apart: first, then unpaid, then the rest now.
        now = int(dt.datetime.now(dt.UTC).timestamp())
        for intent_id, days_ago in ((first, 6), (unpaid, 3)):
            await execute(
                dsn,
                "UPDATE payment_intents SET created_at = to_timestamp($2) WHERE id = $1",
                intent_id,
                now - days_ago * 86400,
            )

        assert await listed(client, status="succeeded") == [second, first]
        assert await listed(client, status="canceled") == [canceled]
        assert await listed(client, status="requires_payment_method") == [unpaid]
        assert await listed(client, provider="paystack") == [second]
        assert await listed(client, provider="simulator") == [canceled, first, unpaid]
        assert await listed(client, provider="simulator", status="succeeded") == [first]
        assert await listed(client, provider="flutterwave") == []
        assert await listed(client, **{"created[gte]": now - 4 * 86400}) == [
            canceled,
            second,
            unpaid,
        ]
        assert await listed(client, **{"created[lte]": now - 4 * 86400}) == [first]
        assert await listed(
            client, **{"created[gte]": now - 7 * 86400, "created[lte]": now - 2 * 86400}
        ) == [first, unpaid]  # newest id first, not newest created
        assert await listed(client, **{"created[lt]": now - 6 * 86400}) == []
        assert await listed(client, status="succeeded", **{"created[gte]": now - 86400}) == [second]
        # Keyset pages within a filter.
        assert await listed(client, status="succeeded", limit=1) == [second]
        assert await listed(client, status="succeeded", limit=1, starting_after=second) == [first]
        assert await listed(client, status="succeeded", limit=1, ending_before=first) == [second]
        assert await listed(
            client, limit=1, starting_after=canceled, **{"created[gte]": now - 4 * 86400}
        ) == [second]
        assert stranger not in await listed(client)

    @pytest.mark.parametrize(
        ("params", "param"),
        [
            ({"status": "paid"}, "status"),
            ({"status": ""}, "status"),
            ({"provider": "x" * 41}, "provider"),
            ({"created[gte]": "yesterday"}, "created"),
            ({"created[gte]": "-1"}, "created"),
            ({"created[lte]": "1e40"}, "created"),
            ({"created[around]": "5"}, "created"),
            ({"created": "soon"}, "created"),
        ],
    )
    async def test_bad_filters_are_400(
        self, client: httpx.AsyncClient, params: dict[str, str], param: str
    ) -> None:
        response = await client.get(BASE, params=params, headers=key())
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert str(error["param"]).startswith(param)


class TestVolume:
    async def test_per_day_and_currency(self, client: httpx.AsyncClient, dsn: str) -> None:
        today = dt.datetime.now(dt.UTC).date()
        old = await paid(client, amount=1000)
        await paid(client, amount=2000)
        await paid(client, amount=3000)
        await paid(client, amount=700, currency="eur")
        ancient = await paid(client, amount=9999)
        await intent(client, amount=123456)  # not paid: not counted
        await paid(client, "ten_stranger", amount=4000)
        noon = dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)
        await execute(
            dsn,
            "UPDATE payment_intents SET created_at = $2 WHERE id = $1",
            old,
            noon - dt.timedelta(days=2),
        )
        await execute(
            dsn,
            "UPDATE payment_intents SET created_at = $2 WHERE id = $1",
            ancient,
            noon - dt.timedelta(days=7),
        )

        response = await client.get(f"{BASE}/volume", headers=key())
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["object"] == "payment_volume"
        assert body["days"] == 7
        assert body["livemode"] is False
        first_day = today - dt.timedelta(days=6)
        assert body["since"] == int(
            dt.datetime.combine(first_day, dt.time(0), tzinfo=dt.UTC).timestamp()
        )
        rows = [(d["date"], d["currency"], d["count"], d["amount"]) for d in body["data"]]
        two_days_ago = (today - dt.timedelta(days=2)).isoformat()
        assert rows == [
            (two_days_ago, "usd", 1, 1000),
            (today.isoformat(), "eur", 1, 700),
            (today.isoformat(), "usd", 2, 5000),
        ]
        # Eight days reach the one made a week ago.
        longer = (await client.get(f"{BASE}/volume", params={"days": 8}, headers=key())).json()
        assert longer["data"][0]["amount"] == 9999
        # Live mode has its own (none), and a stranger its own.
        live = (await client.get(f"{BASE}/volume", headers=key(livemode=True))).json()
        assert live["data"] == []
        theirs = (await client.get(f"{BASE}/volume", headers=key("ten_stranger"))).json()
        assert [(d["count"], d["amount"]) for d in theirs["data"]] == [(1, 4000)]

    @pytest.mark.parametrize("days", ["0", "91", "-1", "week", "1.5"])
    async def test_bad_days_are_400(self, client: httpx.AsyncClient, days: str) -> None:
        response = await client.get(f"{BASE}/volume", params={"days": days}, headers=key())
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "days"


class TestTenThousand:
    """A tenant with 10,000 payments: a filtered page and the week's volume read a page's
    worth of rows through the list indexes, not the tenant's whole history."""

    async def test_filtered_pages_use_the_indexes(
        self, client: httpx.AsyncClient, dsn: str
    ) -> None:
        statuses = ["succeeded", "canceled", "requires_payment_method", "requires_capture"]
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                """
                INSERT INTO payment_intents (id, tenant_id, livemode, amount, amount_received,
                    currency, status, provider, created_at)
                SELECT 'pi_bulk' || lpad(n::text, 6, '0'), 'ten_filters', false, 1000 + n,
                    CASE WHEN n % 4 = 0 THEN 1000 + n ELSE 0 END, 'usd',
                    ($1::text[])[n % 4 + 1],
                    CASE WHEN n % 10 = 0 THEN 'paystack' ELSE 'simulator' END,
                    now() - make_interval(secs => (10000 - n) * 30)
                FROM generate_series(1, 10000) AS n
                """,
                statuses,
            )
            await conn.execute("ANALYZE payment_intents")
            head = "EXPLAIN (FORMAT JSON) SELECT id FROM payment_intents WHERE tenant_id = $1 "
            tail = " = $2 ORDER BY id DESC LIMIT 26"
            for query, value, index in (
                (head + "AND livemode = false AND status" + tail, "canceled",
                 "payment_intents_status_list_idx"),
                (head + "AND livemode = false AND provider" + tail, "paystack",
                 "payment_intents_provider_list_idx"),
            ):  # fmt: skip
                plan = await conn.fetchval(query, "ten_filters", value)
                assert index in plan, plan
        finally:
            await conn.close()

        page = await listed(client, status="canceled", limit=25)
        assert len(page) == 25
        assert page[0] == "pi_bulk009997"
        more = await listed(client, status="canceled", limit=25, starting_after=page[-1])
        assert more[0] == "pi_bulk009897"
        assert len(await listed(client, provider="paystack", limit=100)) == 100
        volume = (await client.get(f"{BASE}/volume", headers=key())).json()
        assert sum(d["count"] for d in volume["data"]) == 2500
