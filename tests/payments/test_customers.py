"""Customers (`cus_`): create, retrieve, update, delete, list; their events; each tenant and
mode sees only its own, and a deleted one answers `deleted: true` by its id."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest

from tests.conftest import ServiceClient
from tests.support.payments import (
    anonymous,
    caller,
    events_of,
    made,
    new_customer,
    payments_client,
)

BASE = "/payments/customers"
ME = caller("ten_cus")
OTHER = caller("ten_other")
LIVE = caller("ten_cus", livemode=True)


@pytest.fixture
async def client(service_client: ServiceClient, dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    async with payments_client(service_client, dsn, relay_interval=3600) as http:
        yield http


class TestCreate:
    async def test_stripe_shape(self, client: httpx.AsyncClient, dsn: str) -> None:
        customer = await new_customer(
            client, ME, email="ada@example.com", name="Ada Obi", phone="+2348012345678",
            description="first", metadata={"tier": "gold"},
        )  # fmt: skip
        assert customer["id"].startswith("cus_")
        assert customer["object"] == "customer"
        assert (customer["email"], customer["name"], customer["phone"]) == (
            "ada@example.com", "Ada Obi", "+2348012345678",
        )  # fmt: skip
        assert customer["metadata"] == {"tier": "gold"}
        assert customer["livemode"] is False
        assert isinstance(customer["created"], int)
        # Null where Stripe sends null.
        assert customer["address"] is None
        assert customer["default_source"] is None
        assert customer["invoice_settings"]["default_payment_method"] is None
        [event] = await events_of(dsn, "customer.created")
        assert event["data"]["object"] == customer

    async def test_an_empty_body_makes_a_customer(self, client: httpx.AsyncClient) -> None:
        customer = await made(await client.post(BASE, headers=ME))
        assert customer["email"] is None
        assert customer["metadata"] == {}

    async def test_form_encoded_as_the_sdks_send_it(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            BASE,
            content=b"email=ada%40example.com&metadata[order]=7",
            headers={**ME, "Content-Type": "application/x-www-form-urlencoded"},
        )
        customer = await made(response)
        assert (customer["email"], customer["metadata"]) == ("ada@example.com", {"order": "7"})

    @pytest.mark.parametrize(
        ("body", "param"),
        [
            ({"email": 5}, "email"),
            ({"email": "a" * 513}, "email"),
            ({"name": ["x"]}, "name"),
            ({"phone": "1" * 21}, "phone"),
            ({"metadata": "x"}, "metadata"),
            ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata"),
            ({"balance": 100}, "balance"),
            ({"expand": ["default_source"]}, "expand"),
        ],
    )
    async def test_bad_input_is_400_and_makes_nothing(
        self, client: httpx.AsyncClient, body: dict[str, Any], param: str
    ) -> None:
        response = await client.post(BASE, json=body, headers=ME)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param
        assert (await made(await client.get(BASE, headers=ME)))["data"] == []

    async def test_no_identity_is_401(self, client: httpx.AsyncClient) -> None:
        assert (await client.post(BASE, json={})).status_code == 401

    async def test_an_idempotency_key_replayed_makes_one(self, client: httpx.AsyncClient) -> None:
        headers = caller("ten_cus", idempotency="cus-key-1")
        first = await made(await client.post(BASE, json={"email": "a@x.io"}, headers=headers))
        again = await client.post(BASE, json={"email": "a@x.io"}, headers=headers)
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first
        other = await client.post(BASE, json={"email": "b@x.io"}, headers=headers)
        assert other.status_code == 400
        assert other.json()["error"]["type"] == "idempotency_error"
        assert len((await made(await client.get(BASE, headers=ME)))["data"]) == 1


class TestRetrieveAndScope:
    async def test_retrieve(self, client: httpx.AsyncClient) -> None:
        customer = await new_customer(client, ME, email="ada@example.com")
        assert await made(await client.get(f"{BASE}/{customer['id']}", headers=ME)) == customer

    @pytest.mark.parametrize("headers", [OTHER, LIVE], ids=["other-tenant", "live-mode"])
    async def test_another_tenant_or_mode_sees_404_everywhere(
        self, client: httpx.AsyncClient, headers: Mapping[str, str]
    ) -> None:
        customer = await new_customer(client, ME, email="ada@example.com")
        url = f"{BASE}/{customer['id']}"
        for response in (
            await client.get(url, headers=headers),
            await client.post(url, json={"name": "x"}, headers=headers),
            await client.delete(url, headers=headers),
            await client.get(f"{url}/payment_methods", headers=headers),
        ):
            assert response.status_code == 404, response.text
            error = response.json()["error"]
            assert error["code"] == "resource_missing"
            assert error["message"] == f"No such customer: {customer['id']!r}."
        assert (await made(await client.get(BASE, headers=headers)))["data"] == []
        # Nothing changed for its owner.
        assert await made(await client.get(url, headers=ME)) == customer

    async def test_unknown_id_is_404(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"{BASE}/cus_nope", headers=ME)
        assert response.status_code == 404
        assert response.json()["error"]["param"] == "id"


class TestUpdate:
    async def test_only_the_fields_sent_change_and_metadata_merges(
        self, client: httpx.AsyncClient, dsn: str
    ) -> None:
        customer = await new_customer(
            client, ME, email="ada@example.com", name="Ada", metadata={"a": "1", "b": "2"}
        )
        updated = await made(
            await client.post(
                f"{BASE}/{customer['id']}",
                json={"name": "Ada Obi", "metadata": {"b": "", "c": "3"}},
                headers=ME,
            )
        )
        assert updated["name"] == "Ada Obi"
        assert updated["email"] == "ada@example.com"
        assert updated["metadata"] == {"a": "1", "c": "3"}
        [event] = await events_of(dsn, "customer.updated")
        assert event["data"]["object"] == updated

    async def test_an_empty_update_changes_nothing_and_announces_nothing(
        self, client: httpx.AsyncClient, dsn: str
    ) -> None:
        customer = await new_customer(client, ME, name="Ada")
        same = await made(await client.post(f"{BASE}/{customer['id']}", headers=ME))
        assert same == customer
        assert await events_of(dsn, "customer.updated") == []

    @pytest.mark.parametrize(
        ("body", "param"),
        [({"email": 1}, "email"), ({"livemode": True}, "livemode"), ({"metadata": []}, "metadata")],
    )
    async def test_bad_input_is_400(
        self, client: httpx.AsyncClient, body: dict[str, Any], param: str
    ) -> None:
        customer = await new_customer(client, ME, name="Ada")
        response = await client.post(f"{BASE}/{customer['id']}", json=body, headers=ME)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == param


class TestDelete:
    async def test_deleted_answers_deleted_true_and_is_gone_otherwise(
        self, client: httpx.AsyncClient, dsn: str
    ) -> None:
        customer = await new_customer(client, ME, email="ada@example.com")
        url = f"{BASE}/{customer['id']}"
        deleted = await made(await client.delete(url, headers=ME))
        assert deleted == {"id": customer["id"], "object": "customer", "deleted": True}
        # As Stripe: its id still answers, with the deleted stub.
        assert await made(await client.get(url, headers=ME)) == deleted
        # Nothing else finds it.
        assert (await client.post(url, json={"name": "x"}, headers=ME)).status_code == 404
        assert (await client.delete(url, headers=ME)).status_code == 404
        assert (await made(await client.get(BASE, headers=ME)))["data"] == []
        [event] = await events_of(dsn, "customer.deleted")
        assert event["data"]["object"]["id"] == customer["id"]


class TestList:
    async def test_newest_first_paged_and_filtered_by_email(
        self, client: httpx.AsyncClient
    ) -> None:
        made_ = [await new_customer(client, ME, email=f"c{i}@x.io") for i in range(3)]
        await new_customer(client, OTHER, email="c0@x.io")
        page = await made(await client.get(BASE, params={"limit": 2}, headers=ME))
        assert [c["id"] for c in page["data"]] == [made_[2]["id"], made_[1]["id"]]
        assert page["has_more"] is True
        assert page["url"] == BASE
        rest = await made(
            await client.get(
                BASE, params={"limit": 2, "starting_after": made_[1]["id"]}, headers=ME
            )
        )
        assert [c["id"] for c in rest["data"]] == [made_[0]["id"]]
        assert rest["has_more"] is False
        found = await made(await client.get(BASE, params={"email": "c0@x.io"}, headers=ME))
        assert [c["id"] for c in found["data"]] == [made_[0]["id"]]

    async def test_on_stripes_path_the_url_is_stripes(self, client: httpx.AsyncClient) -> None:
        page = await made(await client.get(BASE, headers=caller("ten_cus", dialect="stripe")))
        assert page["url"] == "/v1/customers"

    @pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 101}, {"limit": "x"}])
    async def test_bad_paging_is_400(
        self, client: httpx.AsyncClient, query: dict[str, Any]
    ) -> None:
        response = await client.get(BASE, params=query, headers=ME)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "limit"

    async def test_a_caller_without_a_tenant_sees_no_ones(self, client: httpx.AsyncClient) -> None:
        customer = await new_customer(client, ME, email="ada@example.com")
        assert (await made(await client.get(BASE, headers=anonymous())))["data"] == []
        response = await client.get(f"{BASE}/{customer['id']}", headers=anonymous())
        assert response.status_code == 404
