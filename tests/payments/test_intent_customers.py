"""Intents with a customer and its attached methods, `latest_charge` and `expand[]`, and a
decline as Stripe's card error; refunds' metadata and update."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest

from tests.conftest import ServiceClient
from tests.support.payments import attach, caller, events_of, made, new_customer, payments_client

BASE = "/payments/payment_intents"
ME = caller("ten_pic")
OTHER = caller("ten_pic_other")
LIVE = caller("ten_pic", livemode=True)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def client(service_client: ServiceClient, dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    async with payments_client(service_client, dsn, relay_interval=3600) as http:
        yield http


async def intent(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"amount": 5000, "currency": "usd", **fields}
    return await made(await client.post(BASE, json=body, headers=ME))


async def act(
    client: httpx.AsyncClient, intent_id: str, action: str, **body: Any
) -> httpx.Response:
    return await client.post(f"{BASE}/{intent_id}/{action}", json=body, headers=ME)


class TestCustomer:
    async def test_on_create_and_update(self, client: httpx.AsyncClient) -> None:
        ada, bola = await new_customer(client, ME), await new_customer(client, ME)
        made_ = await intent(client, customer=ada["id"])
        assert made_["customer"] == ada["id"]
        updated = await made(
            await client.post(f"{BASE}/{made_['id']}", json={"customer": bola["id"]}, headers=ME)
        )
        assert updated["customer"] == bola["id"]
        assert (await made(await client.get(f"{BASE}/{made_['id']}", headers=ME)))[
            "customer"
        ] == bola["id"]

    async def test_without_one_it_is_null(self, client: httpx.AsyncClient) -> None:
        made_ = await intent(client)
        assert made_["customer"] is None
        assert made_["latest_charge"] is None

    @pytest.mark.parametrize("whose", ["unknown", "other-tenant", "live-mode", "deleted"])
    async def test_no_such_customer_is_400_and_makes_nothing(
        self, client: httpx.AsyncClient, whose: str
    ) -> None:
        if whose == "unknown":
            customer_id = "cus_x"
        elif whose == "other-tenant":
            customer_id = (await new_customer(client, OTHER))["id"]
        elif whose == "live-mode":
            customer_id = (await new_customer(client, LIVE))["id"]
        else:
            customer_id = (await new_customer(client, ME))["id"]
            await made(await client.delete(f"/payments/customers/{customer_id}", headers=ME))
        response = await client.post(
            BASE, json={"amount": 5000, "currency": "usd", "customer": customer_id}, headers=ME
        )
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["type"], error["code"], error["param"]) == (
            "invalid_request_error", "resource_missing", "customer",
        )  # fmt: skip
        assert error["message"] == f"No such customer: {customer_id!r}."
        assert (await made(await client.get(BASE, headers=ME)))["data"] == []
        existing = await intent(client)
        update = await client.post(
            f"{BASE}/{existing['id']}", json={"customer": customer_id}, headers=ME
        )
        assert update.status_code == 400
        assert update.json()["error"]["param"] == "customer"

    @pytest.mark.parametrize("value", [5, "", ["cus_x"], "c" * 101])
    async def test_bad_customer_values(self, client: httpx.AsyncClient, value: Any) -> None:
        response = await client.post(
            BASE, json={"amount": 5000, "currency": "usd", "customer": value}, headers=ME
        )
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "customer"


class TestAttachedMethods:
    async def test_the_customers_method_pays_its_intent(self, client: httpx.AsyncClient) -> None:
        ada = await new_customer(client, ME)
        method = await attach(client, ME, "pm_card_visa", ada["id"])
        made_ = await intent(client, customer=ada["id"], payment_method=method["id"])
        assert made_["status"] == "requires_confirmation"
        confirmed = await made(await act(client, made_["id"], "confirm"))
        assert confirmed["status"] == "succeeded"
        assert confirmed["payment_method"] == method["id"]

    async def test_an_attached_declining_card_declines(self, client: httpx.AsyncClient) -> None:
        ada = await new_customer(client, ME)
        method = await attach(client, ME, "pm_card_chargeDeclined", ada["id"])
        made_ = await intent(client, customer=ada["id"])
        declined = await act(client, made_["id"], "confirm", payment_method=method["id"])
        assert declined.status_code == 402
        error = declined.json()["error"]
        assert error["decline_code"] == "generic_decline"
        assert error["payment_method"]["id"] == method["id"]

    async def test_another_customers_method_is_refused(self, client: httpx.AsyncClient) -> None:
        ada, bola = await new_customer(client, ME), await new_customer(client, ME)
        method = await attach(client, ME, "pm_card_visa", bola["id"])
        response = await client.post(
            BASE,
            json={"amount": 5, "currency": "usd", "customer": ada["id"],
                  "payment_method": method["id"]},
            headers=ME,
        )  # fmt: skip
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "payment_method_invalid_parameter"
        assert response.json()["error"]["param"] == "payment_method"
        made_ = await intent(client, customer=ada["id"])
        confirm = await act(client, made_["id"], "confirm", payment_method=method["id"])
        assert confirm.status_code == 400
        # Nothing was attempted.
        assert (await made(await client.get(f"{BASE}/{made_['id']}", headers=ME)))[
            "latest_charge"
        ] is None

    async def test_a_customers_method_needs_the_customer_on_the_intent(
        self, client: httpx.AsyncClient
    ) -> None:
        ada = await new_customer(client, ME)
        method = await attach(client, ME, "pm_card_visa", ada["id"])
        made_ = await intent(client)
        response = await act(client, made_["id"], "confirm", payment_method=method["id"])
        assert response.status_code == 400
        assert ada["id"] in response.json()["error"]["message"]
        # Naming the customer then makes it usable.
        await made(
            await client.post(f"{BASE}/{made_['id']}", json={"customer": ada["id"]}, headers=ME)
        )
        assert (await made(await act(client, made_["id"], "confirm", payment_method=method["id"])))[
            "status"
        ] == "succeeded"

    async def test_changing_the_customer_away_from_its_method_is_refused(
        self, client: httpx.AsyncClient
    ) -> None:
        ada, bola = await new_customer(client, ME), await new_customer(client, ME)
        method = await attach(client, ME, "pm_card_visa", ada["id"])
        made_ = await intent(client, customer=ada["id"], payment_method=method["id"])
        response = await client.post(
            f"{BASE}/{made_['id']}", json={"customer": bola["id"]}, headers=ME
        )
        assert response.status_code == 400

    async def test_a_detached_method_is_never_used_again(self, client: httpx.AsyncClient) -> None:
        ada = await new_customer(client, ME)
        method = await attach(client, ME, "pm_card_visa", ada["id"])
        await made(
            await client.post(f"/payments/payment_methods/{method['id']}/detach", headers=ME)
        )
        made_ = await intent(client, customer=ada["id"])
        response = await act(client, made_["id"], "confirm", payment_method=method["id"])
        assert response.status_code == 400
        assert "detached" in response.json()["error"]["message"]

    async def test_another_tenants_method_is_no_such_method(
        self, client: httpx.AsyncClient
    ) -> None:
        theirs = await new_customer(client, OTHER)
        method = await attach(client, OTHER, "pm_card_visa", theirs["id"])
        made_ = await intent(client)
        response = await act(client, made_["id"], "confirm", payment_method=method["id"])
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["code"], error["param"]) == ("resource_missing", "payment_method")
        assert error["message"] == f"No such PaymentMethod: {method['id']!r}."


class TestLatestCharge:
    async def test_a_charge_per_attempt_expanded_as_stripes(
        self, client: httpx.AsyncClient
    ) -> None:
        ada = await new_customer(client, ME)
        made_ = await intent(client, customer=ada["id"], capture_method="manual")
        declined = await act(
            client, made_["id"], "confirm", payment_method="pm_card_chargeDeclined"
        )
        first = declined.json()["error"]["charge"]
        assert first.startswith("ch_")
        failed = await made(
            await client.get(f"{BASE}/{made_['id']}?expand[0]=latest_charge", headers=ME)
        )
        charge = failed["latest_charge"]
        assert (charge["id"], charge["object"], charge["status"]) == (first, "charge", "failed")
        assert charge["paid"] is False
        assert charge["outcome"]["type"] == "issuer_declined"
        assert charge["outcome"]["reason"] == "generic_decline"
        assert charge["failure_code"] == "card_declined"
        assert charge["payment_method"] == "pm_card_chargeDeclined"

        held = await made(
            await act(client, made_["id"], "confirm", payment_method="pm_card_visa",
                      expand=["latest_charge"])
        )  # fmt: skip
        charge = held["latest_charge"]
        assert charge["id"] != first
        assert (charge["status"], charge["paid"], charge["captured"]) == ("succeeded", True, False)
        assert (charge["amount"], charge["amount_captured"]) == (5000, 0)
        assert charge["payment_intent"] == made_["id"]
        assert charge["customer"] == ada["id"]
        assert charge["payment_method_details"]["card"]["last4"] == "4242"

        captured = await made(
            await act(client, made_["id"], "capture", amount_to_capture=3000,
                      expand=["latest_charge"])
        )  # fmt: skip
        charge = captured["latest_charge"]
        assert (charge["captured"], charge["amount_captured"]) == (True, 3000)
        # The uncaptured rest went back, as Stripe counts it.
        assert charge["amount_refunded"] == 2000
        assert charge["id"] == held["latest_charge"]["id"]

        await made(
            await client.post(
                "/payments/refunds", json={"payment_intent": made_["id"], "amount": 1000},
                headers=ME,
            )
        )  # fmt: skip
        after = await made(
            await client.get(f"{BASE}/{made_['id']}", params={"expand[]": "latest_charge"},
                             headers=ME)
        )  # fmt: skip
        assert after["latest_charge"]["amount_refunded"] == 3000
        assert after["latest_charge"]["refunded"] is False
        plain = await made(await client.get(f"{BASE}/{made_['id']}", headers=ME))
        assert plain["latest_charge"] == charge["id"]

    async def test_events_carry_the_charge_id(self, client: httpx.AsyncClient, dsn: str) -> None:
        made_ = await intent(client, payment_method="pm_card_visa", confirm=True)
        [event] = await events_of(dsn, "payment_intent.succeeded")
        assert event["data"]["object"]["latest_charge"] == made_["latest_charge"]
        assert made_["latest_charge"].startswith("ch_")


class TestExpand:
    async def test_customer_and_payment_method_on_create(self, client: httpx.AsyncClient) -> None:
        ada = await new_customer(client, ME, name="Ada")
        response = await client.post(
            BASE,
            content=(
                f"amount=5000&currency=usd&customer={ada['id']}&payment_method=pm_card_visa"
                "&expand[0]=customer&expand[1]=payment_method"
            ).encode(),
            headers={**ME, **FORM},
        )
        shown = await made(response)
        assert shown["customer"] == ada
        assert shown["payment_method"]["object"] == "payment_method"
        assert shown["payment_method"]["card"]["brand"] == "visa"
        # Stored as ids: a plain read shows ids.
        plain = await made(await client.get(f"{BASE}/{shown['id']}", headers=ME))
        assert (plain["customer"], plain["payment_method"]) == (ada["id"], "pm_card_visa")

    async def test_null_fields_stay_null(self, client: httpx.AsyncClient) -> None:
        made_ = await intent(client)
        shown = await made(
            await client.get(
                f"{BASE}/{made_['id']}?expand[]=customer&expand[]=payment_method"
                "&expand[]=latest_charge",
                headers=ME,
            )
        )
        assert (shown["customer"], shown["payment_method"], shown["latest_charge"]) == (
            None, None, None,
        )  # fmt: skip

    async def test_lists_expand_data_fields(self, client: httpx.AsyncClient) -> None:
        ada = await new_customer(client, ME)
        await intent(client, customer=ada["id"])
        page = await made(await client.get(f"{BASE}?expand[0]=data.customer", headers=ME))
        assert page["data"][0]["customer"] == ada
        assert page["url"] == BASE

    @pytest.mark.parametrize(
        "asked", ["amount", "customer.default_source", "data.customer", "latest_charge.x", ""]
    )
    async def test_what_cannot_be_expanded_is_400_and_runs_nothing(
        self, client: httpx.AsyncClient, asked: str
    ) -> None:
        response = await client.post(
            BASE, json={"amount": 5000, "currency": "usd", "expand": [asked]}, headers=ME
        )
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["code"], error["param"]) == ("parameter_invalid", "expand")
        assert error["message"] == f"This property cannot be expanded ({asked})."
        assert (await made(await client.get(BASE, headers=ME)))["data"] == []
        made_ = await intent(client)
        read = await client.get(f"{BASE}/{made_['id']}", params={"expand[0]": asked}, headers=ME)
        assert read.status_code == 400
        listing = await client.get(BASE, params={"expand[0]": "customer"}, headers=ME)
        assert listing.status_code == 400

    async def test_expand_must_be_a_list_of_strings(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            BASE, json={"amount": 5000, "currency": "usd", "expand": "customer"}, headers=ME
        )
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "expand"
        too_many = await client.post(
            BASE, json={"amount": 5, "currency": "usd", "expand": ["customer"] * 21}, headers=ME
        )
        assert too_many.status_code == 400

    async def test_another_tenants_customer_is_never_expanded(
        self, client: httpx.AsyncClient
    ) -> None:
        theirs = await new_customer(client, OTHER, email="secret@x.io")
        mine = await intent(client)
        # Even an intent that somehow named it would expand within the caller's scope only;
        # the intent cannot name it in the first place.
        refused = await client.post(
            f"{BASE}/{mine['id']}", json={"customer": theirs["id"], "expand": ["customer"]},
            headers=ME,
        )  # fmt: skip
        assert refused.status_code == 400
        assert "secret@x.io" not in refused.text


class TestCardError:
    async def test_a_decline_is_stripes_card_error_with_the_whole_intent(
        self, client: httpx.AsyncClient
    ) -> None:
        made_ = await intent(client, metadata={"order": "7"})
        response = await act(
            client, made_["id"], "confirm",
            payment_method="pm_card_visa_chargeDeclinedInsufficientFunds",
        )  # fmt: skip
        assert response.status_code == 402
        error = response.json()["error"]
        assert (error["type"], error["code"], error["decline_code"], error["param"]) == (
            "card_error", "card_declined", "insufficient_funds", "payment_method",
        )  # fmt: skip
        now = await made(await client.get(f"{BASE}/{made_['id']}", headers=ME))
        assert error["payment_intent"] == now
        assert error["charge"] == now["latest_charge"]
        assert error["payment_method"]["id"] == "pm_card_visa_chargeDeclinedInsufficientFunds"
        assert error["payment_method"]["object"] == "payment_method"
        assert now["last_payment_error"]["decline_code"] == "insufficient_funds"


class TestRefundUpdate:
    async def paid_refund(self, client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
        paid = await intent(client, payment_method="pm_card_visa", confirm=True)
        return await made(
            await client.post(
                "/payments/refunds", json={"payment_intent": paid["id"], **fields}, headers=ME
            )
        )

    async def test_metadata_on_create_and_merged_on_update(
        self, client: httpx.AsyncClient, dsn: str
    ) -> None:
        refund = await self.paid_refund(client, metadata={"a": "1", "b": "2"})
        assert refund["metadata"] == {"a": "1", "b": "2"}
        updated = await made(
            await client.post(
                f"/payments/refunds/{refund['id']}",
                content=b"metadata[b]=&metadata[c]=3",
                headers={**ME, **FORM},
            )
        )
        assert updated["metadata"] == {"a": "1", "c": "3"}
        assert (updated["amount"], updated["status"]) == (refund["amount"], refund["status"])
        # The first is its creation's change to succeeded (a simulator refund).
        [_, event] = await events_of(dsn, "refund.updated")
        assert event["data"]["object"] == updated
        got = await made(await client.get(f"/payments/refunds/{refund['id']}", headers=ME))
        assert got == updated

    async def test_expand_payment_intent(self, client: httpx.AsyncClient) -> None:
        refund = await self.paid_refund(client, expand=["payment_intent"])
        assert refund["payment_intent"]["object"] == "payment_intent"
        listed = await made(
            await client.get("/payments/refunds?expand[0]=data.payment_intent", headers=ME)
        )
        assert listed["data"][0]["payment_intent"]["id"] == refund["payment_intent"]["id"]

    @pytest.mark.parametrize(
        ("body", "param"),
        [({"amount": 5}, "amount"), ({"metadata": "x"}, "metadata"),
         ({"metadata": {"k": "v" * 501}}, "metadata[k]"), ({"expand": ["charge"]}, "expand")],
    )  # fmt: skip
    async def test_only_metadata_changes(
        self, client: httpx.AsyncClient, body: dict[str, Any], param: str
    ) -> None:
        refund = await self.paid_refund(client)
        response = await client.post(f"/payments/refunds/{refund['id']}", json=body, headers=ME)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == param

    @pytest.mark.parametrize("headers", [OTHER, LIVE], ids=["other-tenant", "live-mode"])
    async def test_another_tenants_refund_is_404(
        self, client: httpx.AsyncClient, headers: Mapping[str, str]
    ) -> None:
        refund = await self.paid_refund(client)
        response = await client.post(
            f"/payments/refunds/{refund['id']}", json={"metadata": {"x": "1"}}, headers=headers
        )
        assert response.status_code == 404
        got = await made(await client.get(f"/payments/refunds/{refund['id']}", headers=ME))
        assert got["metadata"] == {}


class TestDialects:
    async def test_lists_name_the_path_asked_for(self, client: httpx.AsyncClient) -> None:
        stripe = caller("ten_pic", dialect="stripe")
        paid = await intent(client, payment_method="pm_card_visa", confirm=True)
        await made(
            await client.post("/payments/refunds", json={"payment_intent": paid["id"]}, headers=ME)
        )
        for path, public in (
            (BASE, "/v1/payment_intents"),
            ("/payments/refunds", "/v1/refunds"),
        ):
            for query in (
                "",
                "?expand[0]=data.customer" if path == BASE else "?expand[]=data.payment_intent",
            ):
                on_v1 = await made(await client.get(path + query, headers=stripe))
                assert on_v1["url"] == public
                assert len(on_v1["data"]) == 1
                native = await made(await client.get(path + query, headers=ME))
                assert native["url"] == path
                assert native["data"] == on_v1["data"]
