"""Payment methods: the simulator's test methods, retrieved as Stripe's objects; attached to
a customer they become a method of its own (`pm_...`), listed, detached for good."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest

from services.payments.providers.simulator import KNOWN_METHODS
from tests.conftest import ServiceClient
from tests.support.payments import (
    attach,
    caller,
    events_of,
    fetch,
    made,
    new_customer,
    payments_client,
)

BASE = "/payments/payment_methods"
ME = caller("ten_pm")
OTHER = caller("ten_pm_other")
LIVE = caller("ten_pm", livemode=True)


@pytest.fixture
async def client(service_client: ServiceClient, dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    async with payments_client(service_client, dsn, relay_interval=3600) as http:
        yield http


class TestRetrieve:
    @pytest.mark.parametrize("method", sorted(KNOWN_METHODS))
    async def test_every_test_method_is_a_card(
        self, client: httpx.AsyncClient, method: str
    ) -> None:
        shown = await made(await client.get(f"{BASE}/{method}", headers=ME))
        assert (shown["id"], shown["object"], shown["type"]) == (method, "payment_method", "card")
        assert shown["customer"] is None
        assert set(shown["card"]) == {
            "brand", "last4", "exp_month", "exp_year", "funding", "country"
        }  # fmt: skip
        assert len(shown["card"]["last4"]) == 4
        assert shown["billing_details"] == {
            "address": None, "email": None, "name": None, "phone": None
        }  # fmt: skip
        assert shown["livemode"] is False

    async def test_the_cards_are_stripes(self, client: httpx.AsyncClient) -> None:
        visa = await made(await client.get(f"{BASE}/pm_card_visa", headers=ME))
        assert (visa["card"]["brand"], visa["card"]["last4"]) == ("visa", "4242")
        declined = await made(await client.get(f"{BASE}/pm_card_chargeDeclined", headers=ME))
        assert declined["card"]["last4"] == "0002"

    async def test_test_methods_do_not_exist_in_live_mode(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"{BASE}/pm_card_visa", headers=LIVE)
        assert response.status_code == 404
        assert response.json()["error"]["message"] == "No such PaymentMethod: 'pm_card_visa'."

    @pytest.mark.parametrize("method", ["pm_nope", "pm_01jd0000000000000000000000", "cus_x"])
    async def test_unknown_is_404(self, client: httpx.AsyncClient, method: str) -> None:
        response = await client.get(f"{BASE}/{method}", headers=ME)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "resource_missing"

    async def test_an_unknown_expansion_is_400(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"{BASE}/pm_card_visa?expand[0]=card", headers=ME)
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["param"], error["message"]) == (
            "expand", "This property cannot be expanded (card).",
        )  # fmt: skip


class TestAttach:
    async def test_a_test_method_becomes_the_customers_own(
        self, client: httpx.AsyncClient, dsn: str
    ) -> None:
        customer = await new_customer(client, ME, email="ada@example.com")
        method = await attach(client, ME, "pm_card_visa", customer["id"])
        assert method["id"].startswith("pm_")
        assert method["id"] != "pm_card_visa"
        assert method["customer"] == customer["id"]
        assert (method["card"]["brand"], method["card"]["last4"]) == ("visa", "4242")
        assert await made(await client.get(f"{BASE}/{method['id']}", headers=ME)) == method
        [event] = await events_of(dsn, "payment_method.attached")
        assert event["data"]["object"] == method
        # Each attach makes another.
        second = await attach(client, ME, "pm_card_visa", customer["id"])
        assert second["id"] != method["id"]

    async def test_expand_customer(self, client: httpx.AsyncClient) -> None:
        customer = await new_customer(client, ME, email="ada@example.com")
        response = await client.post(
            f"{BASE}/pm_card_mastercard/attach",
            content=f"customer={customer['id']}&expand[0]=customer".encode(),
            headers={**ME, "Content-Type": "application/x-www-form-urlencoded"},
        )
        method = await made(response)
        assert method["customer"] == customer
        fetched = await made(
            await client.get(f"{BASE}/{method['id']}", params={"expand[]": "customer"}, headers=ME)
        )
        assert fetched["customer"] == customer

    async def test_attaching_again_to_its_customer_changes_nothing(
        self, client: httpx.AsyncClient
    ) -> None:
        customer = await new_customer(client, ME)
        method = await attach(client, ME, "pm_card_visa", customer["id"])
        assert await attach(client, ME, method["id"], customer["id"]) == method

    async def test_to_another_customer_is_refused(self, client: httpx.AsyncClient) -> None:
        first, second = await new_customer(client, ME), await new_customer(client, ME)
        method = await attach(client, ME, "pm_card_visa", first["id"])
        response = await client.post(
            f"{BASE}/{method['id']}/attach", json={"customer": second["id"]}, headers=ME
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "payment_method_invalid_parameter"

    @pytest.mark.parametrize("headers", [OTHER, LIVE], ids=["other-tenant", "live-mode"])
    async def test_another_tenants_or_modes_customer_is_no_such_customer(
        self, client: httpx.AsyncClient, dsn: str, headers: Mapping[str, str]
    ) -> None:
        theirs = await new_customer(client, ME)
        response = await client.post(
            f"{BASE}/pm_card_visa/attach", json={"customer": theirs["id"]}, headers=headers
        )
        assert response.status_code in (400, 404)
        error = response.json()["error"]
        assert error["code"] == "resource_missing"
        if headers is OTHER:
            assert response.status_code == 400
            assert (error["param"], error["message"]) == (
                "customer", f"No such customer: {theirs['id']!r}.",
            )  # fmt: skip
        assert await events_of(dsn, "payment_method.attached") == []

    async def test_another_tenants_method_is_404(self, client: httpx.AsyncClient) -> None:
        mine, theirs = await new_customer(client, ME), await new_customer(client, OTHER)
        method = await attach(client, OTHER, "pm_card_visa", theirs["id"])
        for response in (
            await client.get(f"{BASE}/{method['id']}", headers=ME),
            await client.post(
                f"{BASE}/{method['id']}/attach", json={"customer": mine["id"]}, headers=ME
            ),
            await client.post(f"{BASE}/{method['id']}/detach", headers=ME),
        ):
            assert response.status_code == 404, response.text
        assert (await made(await client.get(f"{BASE}/{method['id']}", headers=OTHER)))[
            "customer"
        ] == theirs["id"]

    @pytest.mark.parametrize(
        ("body", "param"),
        [({}, "customer"), ({"customer": 5}, "customer"), ({"customer": ""}, "customer"),
         ({"customer": "c" * 101}, "customer"), ({"customer": "cus_x", "extra": 1}, "extra")],
    )  # fmt: skip
    async def test_bad_input_is_400(
        self, client: httpx.AsyncClient, body: dict[str, Any], param: str
    ) -> None:
        response = await client.post(f"{BASE}/pm_card_visa/attach", json=body, headers=ME)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == param

    async def test_a_deleted_customer_takes_none(self, client: httpx.AsyncClient) -> None:
        customer = await new_customer(client, ME)
        method = await attach(client, ME, "pm_card_visa", customer["id"])
        await made(await client.delete(f"/payments/customers/{customer['id']}", headers=ME))
        response = await client.post(
            f"{BASE}/pm_card_visa/attach", json={"customer": customer["id"]}, headers=ME
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "resource_missing"
        # Its methods were detached with it.
        assert (await made(await client.get(f"{BASE}/{method['id']}", headers=ME)))[
            "customer"
        ] is None

    async def test_attaching_while_the_customer_is_deleted_leaves_none_attached(
        self, client: httpx.AsyncClient, dsn: str
    ) -> None:
        customer = await new_customer(client, ME)
        url = f"{BASE}/pm_card_visa/attach"
        answers = await asyncio.gather(
            *[client.post(url, json={"customer": customer["id"]}, headers=ME) for _ in range(4)],
            client.delete(f"/payments/customers/{customer['id']}", headers=ME),
            *[client.post(url, json={"customer": customer["id"]}, headers=ME) for _ in range(4)],
        )
        assert {a.status_code for a in answers} <= {200, 400}
        rows = await fetch(dsn, "SELECT count(*) AS n FROM payment_methods WHERE customer_id = $1",
                           customer["id"])  # fmt: skip
        assert rows[0]["n"] == 0

    async def test_a_replayed_key_attaches_once(self, client: httpx.AsyncClient) -> None:
        customer = await new_customer(client, ME)
        headers = caller("ten_pm", idempotency="attach-1")
        url, body = f"{BASE}/pm_card_visa/attach", {"customer": customer["id"]}
        first = await made(await client.post(url, json=body, headers=headers))
        again = await client.post(url, json=body, headers=headers)
        assert again.json() == first
        assert again.headers["idempotent-replayed"] == "true"
        listed = await made(
            await client.get(f"/payments/customers/{customer['id']}/payment_methods", headers=ME)
        )
        assert [m["id"] for m in listed["data"]] == [first["id"]]


class TestDetach:
    async def test_detached_for_good(self, client: httpx.AsyncClient, dsn: str) -> None:
        customer = await new_customer(client, ME)
        method = await attach(client, ME, "pm_card_visa", customer["id"])
        detached = await made(await client.post(f"{BASE}/{method['id']}/detach", headers=ME))
        assert detached["id"] == method["id"]
        assert detached["customer"] is None
        [event] = await events_of(dsn, "payment_method.detached")
        assert event["data"]["object"] == detached
        again = await client.post(f"{BASE}/{method['id']}/detach", headers=ME)
        assert again.status_code == 400
        reattach = await client.post(
            f"{BASE}/{method['id']}/attach", json={"customer": customer["id"]}, headers=ME
        )
        assert reattach.status_code == 400
        assert reattach.json()["error"]["code"] == "payment_method_invalid_parameter"

    async def test_a_test_method_is_attached_to_no_one(self, client: httpx.AsyncClient) -> None:
        response = await client.post(f"{BASE}/pm_card_visa/detach", headers=ME)
        assert response.status_code == 400
        assert "not attached" in response.json()["error"]["message"]


class TestList:
    async def test_a_customers_methods_newest_first(self, client: httpx.AsyncClient) -> None:
        ada, bola = await new_customer(client, ME), await new_customer(client, ME)
        visa = await attach(client, ME, "pm_card_visa", ada["id"])
        amex = await attach(client, ME, "pm_card_amex", ada["id"])
        await attach(client, ME, "pm_card_visa", bola["id"])
        gone = await attach(client, ME, "pm_card_visa", ada["id"])
        await made(await client.post(f"{BASE}/{gone['id']}/detach", headers=ME))
        for url, params in (
            (BASE, {"customer": ada["id"], "type": "card"}),
            (f"/payments/customers/{ada['id']}/payment_methods", {"type": "card"}),
        ):
            page = await made(await client.get(url, params=params, headers=ME))
            assert [m["id"] for m in page["data"]] == [amex["id"], visa["id"]]
            assert page["url"] == url
        stripe_page = await made(
            await client.get(
                BASE, params={"customer": ada["id"]}, headers=caller("ten_pm", dialect="stripe")
            )
        )
        assert stripe_page["url"] == "/v1/payment_methods"
        paged = await made(
            await client.get(BASE, params={"customer": ada["id"], "limit": 1}, headers=ME)
        )
        assert paged["has_more"] is True
        assert len(paged["data"]) == 1
        other_types = await made(
            await client.get(BASE, params={"customer": ada["id"], "type": "sepa_debit"}, headers=ME)
        )
        assert other_types["data"] == []

    async def test_expand_data_customer(self, client: httpx.AsyncClient) -> None:
        ada = await new_customer(client, ME, name="Ada")
        await attach(client, ME, "pm_card_visa", ada["id"])
        url = f"{BASE}?customer={ada['id']}&expand[0]=data.customer"
        page = await made(await client.get(url, headers=ME))
        assert page["data"][0]["customer"] == ada
        bare = await client.get(f"{BASE}?customer={ada['id']}&expand[0]=customer", headers=ME)
        assert bare.status_code == 400
        assert bare.json()["error"]["param"] == "expand"

    async def test_another_tenants_customer(self, client: httpx.AsyncClient) -> None:
        theirs = await new_customer(client, OTHER)
        await attach(client, OTHER, "pm_card_visa", theirs["id"])
        listed = await client.get(BASE, params={"customer": theirs["id"]}, headers=ME)
        assert listed.status_code == 400
        assert listed.json()["error"]["param"] == "customer"
        nested = await client.get(f"/payments/customers/{theirs['id']}/payment_methods", headers=ME)
        assert nested.status_code == 404
        assert (await made(await client.get(BASE, headers=ME)))["data"] == []

    async def test_bad_type_is_400(self, client: httpx.AsyncClient) -> None:
        response = await client.get(BASE, params={"type": "Card!"}, headers=ME)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "type"
