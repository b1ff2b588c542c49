"""Webhook endpoints for Stripe's clients (issue #15): the signature scheme (`standard` or
`stripe`, by default from the request's dialect), `Stripe-Signature` deliveries verified by
stripe-python's own `construct_event` (one `v1` per live secret during a roll), `metadata`
and `api_version`, and the whole endpoint API driven by the real SDK through `/v1`."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import stripe

from tests.events.stripe_client import stripe_client
from tests.support.events import (
    EventsService,
    create_endpoint,
    delivered,
    event_row,
    key,
    publish,
    stripe_key,
    tenant,
)
from tests.support.webhook_receiver import Receiver, event_id, webhook_receiver

BASE = "/webhook_endpoints"
URL = "http://127.0.0.1:9/hook"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        BASE, json={"url": URL, "enabled_events": ["*"], **fields}, headers=headers
    )
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    found: dict[str, Any] = response.json()["error"]
    return found


class TestSignatureScheme:
    async def test_stripes_path_signs_stripes_way_micros_path_standard(
        self, service: EventsService
    ) -> None:
        owner = tenant()
        on_v1 = await create(service.client, stripe_key(owner))
        native = await create(service.client, key(owner))
        assert (on_v1["signature"], native["signature"]) == ("stripe", "standard")
        # Both are the same tenant's endpoints, in one list, whichever path reads them.
        listed = (await service.client.get(BASE, headers=key(owner))).json()["data"]
        assert {e["id"]: e["signature"] for e in listed} == {
            on_v1["id"]: "stripe",
            native["id"]: "standard",
        }

    @pytest.mark.parametrize("stripe_dialect", [False, True])
    @pytest.mark.parametrize("scheme", ["standard", "stripe"])
    async def test_chosen_on_create_whatever_the_path(
        self, service: EventsService, stripe_dialect: bool, scheme: str
    ) -> None:
        owner = tenant()
        headers = stripe_key(owner) if stripe_dialect else key(owner)
        made = await create(service.client, headers, signature=scheme)
        assert made["signature"] == scheme
        got = (await service.client.get(f"{BASE}/{made['id']}", headers=headers)).json()
        assert got["signature"] == scheme

    async def test_changed_by_an_update(self, service: EventsService) -> None:
        owner = tenant()
        made = await create(service.client, key(owner))
        path = f"{BASE}/{made['id']}"
        changed = await service.client.post(
            path, content=b"signature=stripe", headers={**key(owner), **FORM}
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["signature"] == "stripe"
        # Another field changed later keeps the scheme.
        later = await service.client.post(path, json={"description": "d"}, headers=key(owner))
        assert later.json()["signature"] == "stripe"

    @pytest.mark.parametrize("value", ["hmac", "Stripe", "", 1, None, ["stripe"]])
    async def test_an_unknown_scheme_is_refused(self, service: EventsService, value: Any) -> None:
        owner = tenant()
        body = {"url": URL, "enabled_events": ["*"], "signature": value}
        if value is None:
            body["signature"] = {"scheme": "stripe"}
        found = error(await service.client.post(BASE, json=body, headers=key(owner)), 400)
        assert found["param"] == "signature"
        assert (await service.client.get(BASE, headers=key(owner))).json()["data"] == []
        made = await create(service.client, key(owner))
        refused = await service.client.post(
            f"{BASE}/{made['id']}", json={"signature": value}, headers=key(owner)
        )
        if value is not None:  # JSON null on an update means "unchanged"
            assert error(refused, 400)["param"] == "signature"

    async def test_another_tenants_or_modes_endpoint_is_not_found(
        self, service: EventsService
    ) -> None:
        owner = tenant()
        made = await create(service.client, stripe_key(owner))
        path = f"{BASE}/{made['id']}"
        for intruder in (stripe_key(tenant()), stripe_key(owner, livemode=True)):
            refused = await service.client.post(
                path, json={"signature": "standard"}, headers=intruder
            )
            assert error(refused, 404)["code"] == "resource_missing"
            error(await service.client.delete(path, headers=intruder), 404)
        kept = (await service.client.get(path, headers=key(owner))).json()
        assert kept["signature"] == "stripe"


class TestStripeDeliveries:
    async def test_stripe_python_constructs_the_delivered_event(
        self, service: EventsService, redis: aioredis.Redis, receiver: Receiver
    ) -> None:
        owner = tenant()
        made = await create_endpoint(service.client, stripe_key(owner), receiver)
        assert receiver.signature == "stripe"
        row = event_row(owner)
        await publish(redis, row)
        await receiver.wait_for(1)
        [got] = receiver.received
        assert got.verified
        assert got.body == row["payload"].encode()
        assert "webhook-signature" not in got.headers
        event = stripe.Webhook.construct_event(
            got.body, got.headers["Stripe-Signature"], made["secret"]
        )
        assert isinstance(event, stripe.Event)
        assert (event.id, event.type) == (row["event_id"], "payment_intent.succeeded")
        assert event.data.object["note"] == "é ✓"
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(
                got.body, got.headers["Stripe-Signature"], "whsec_" + "A" * 44
            )

    async def test_one_event_reaches_each_endpoint_in_its_own_scheme(
        self, service: EventsService, redis: aioredis.Redis
    ) -> None:
        owner = tenant()
        async with webhook_receiver() as standard, webhook_receiver() as stripes:
            await create_endpoint(service.client, key(owner), standard)
            await create_endpoint(service.client, key(owner), stripes, signature="stripe")
            row = event_row(owner)
            await publish(redis, row)
            await standard.wait_for(1)
            await stripes.wait_for(1)
        assert standard.signature == "standard"
        assert standard.received[0].verified
        assert stripes.received[0].verified
        assert "Stripe-Signature" not in standard.received[0].headers
        assert standard.received[0].headers["webhook-id"] == row["event_id"]
        assert event_id(stripes.received[0]) == row["event_id"]

    async def test_switching_the_scheme_switches_the_next_delivery(
        self, service: EventsService, redis: aioredis.Redis, receiver: Receiver
    ) -> None:
        owner = tenant()
        made = await create_endpoint(service.client, key(owner), receiver)
        assert (await delivered(redis, receiver, owner)).headers.get("webhook-signature")
        await service.client.post(
            f"{BASE}/{made['id']}", json={"signature": "stripe"}, headers=key(owner)
        )
        receiver.signature = "stripe"
        second = await delivered(redis, receiver, owner)
        assert second.verified
        assert "webhook-signature" not in second.headers

    async def test_during_a_roll_one_v1_per_secret_and_either_verifies(
        self, service: EventsService, redis: aioredis.Redis, receiver: Receiver
    ) -> None:
        owner = tenant()
        made = await create_endpoint(service.client, stripe_key(owner), receiver)
        old = made["secret"]
        rolled = await service.client.post(
            f"{BASE}/{made['id']}/roll_secret", json={"expires_in": 3600}, headers=stripe_key(owner)
        )
        new = rolled.json()["secret"]
        got = await delivered(redis, receiver, owner)  # the receiver still holds the old one
        header = got.headers["Stripe-Signature"]
        assert header.count("v1=") == 2
        for secret in (old, new):
            assert stripe.Webhook.construct_event(got.body, header, secret).id == event_id(got)
        # A roll without a window: only the newest secret signs.
        third = await service.client.post(
            f"{BASE}/{made['id']}/roll_secret", json={}, headers=stripe_key(owner)
        )
        receiver.secret = third.json()["secret"]
        last = await delivered(redis, receiver, owner)
        assert last.headers["Stripe-Signature"].count("v1=") == 1
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(last.body, last.headers["Stripe-Signature"], new)


class TestMetadataAndApiVersion:
    async def test_created_form_encoded_as_the_sdks_send_it(self, service: EventsService) -> None:
        owner = tenant()
        response = await service.client.post(
            BASE,
            content=(
                f"url={URL}&enabled_events[0]=payment_intent.succeeded"
                "&enabled_events[1]=refund.*&metadata[team]=orders&metadata[tier]=gold"
            ).encode(),
            headers={**stripe_key(owner), **FORM, "Stripe-Version": "2025-09-30.clover"},
        )
        assert response.status_code == 200, response.text
        made = response.json()
        assert made["enabled_events"] == ["payment_intent.succeeded", "refund.*"]
        assert made["metadata"] == {"team": "orders", "tier": "gold"}
        assert made["api_version"] == "2025-09-30.clover"
        assert made["signature"] == "stripe"

    async def test_api_version_asked_for_wins_and_none_is_null(
        self, service: EventsService
    ) -> None:
        owner = tenant()
        asked = await create(
            service.client,
            {**key(owner), "Stripe-Version": "2025-09-30.clover"},
            api_version="2020-08-27",
        )
        assert asked["api_version"] == "2020-08-27"
        plain = await create(service.client, key(owner))
        assert (plain["api_version"], plain["metadata"]) == (None, {})
        # A header that is no API version is not recorded (the gateway answers for it).
        odd = await create(service.client, {**key(owner), "Stripe-Version": "latest; drop"})
        assert odd["api_version"] is None

    async def test_metadata_is_merged_as_stripe_does(self, service: EventsService) -> None:
        owner = tenant()
        made = await create(service.client, key(owner), metadata={"a": "1", "b": "2"})
        path = f"{BASE}/{made['id']}"

        async def update(content: bytes) -> dict[str, str]:
            response = await service.client.post(
                path, content=content, headers={**key(owner), **FORM}
            )
            assert response.status_code == 200, response.text
            found: dict[str, str] = response.json()["metadata"]
            return found

        assert await update(b"metadata[c]=3&metadata[a]=one") == {"a": "one", "b": "2", "c": "3"}
        assert await update(b"metadata[b]=") == {"a": "one", "c": "3"}
        assert await update(b"description=kept") == {"a": "one", "c": "3"}
        assert await update(b"metadata=") == {}
        # Kept as sent: the tenant's own keys and values, spaces included.
        assert await update(b"metadata[+k+]=+v+") == {" k ": " v "}
        got = (await service.client.get(path, headers=key(owner))).json()
        assert (got["metadata"], got["description"]) == ({" k ": " v "}, "kept")

    @pytest.mark.parametrize(
        ("fields", "param"),
        [
            ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata"),
            ({"metadata": {"k" * 41: "v"}}, f"metadata[{'k' * 41}]"),
            ({"metadata": {"k": "v" * 501}}, "metadata[k]"),
            ({"metadata": {"k": 7}}, "metadata[k]"),
            ({"metadata": ["k"]}, "metadata"),
            ({"metadata": "everything"}, "metadata"),
            ({"api_version": "yesterday"}, "api_version"),
            ({"api_version": 2020}, "api_version"),
        ],
    )
    async def test_bad_input(
        self, service: EventsService, fields: dict[str, Any], param: str
    ) -> None:
        owner = tenant()
        body = {"url": URL, "enabled_events": ["*"], **fields}
        found = error(await service.client.post(BASE, json=body, headers=key(owner)), 400)
        assert found["type"] == "invalid_request_error"
        assert found["param"] == param
        assert (await service.client.get(BASE, headers=key(owner))).json()["data"] == []

    async def test_an_update_may_not_pass_fifty_keys(self, service: EventsService) -> None:
        owner = tenant()
        made = await create(service.client, key(owner), metadata={f"k{i}": "v" for i in range(40)})
        path = f"{BASE}/{made['id']}"
        more = {"metadata": {f"n{i}": "v" for i in range(11)}}
        found = error(await service.client.post(path, json=more, headers=key(owner)), 400)
        assert (found["param"], found["code"]) == ("metadata", "parameter_invalid")
        got = (await service.client.get(path, headers=key(owner))).json()
        assert len(got["metadata"]) == 40
        # Removing keys in the same update makes room.
        swap = {"metadata": {**{f"k{i}": "" for i in range(11)}, **more["metadata"]}}
        assert (
            len((await service.client.post(path, json=swap, headers=key(owner))).json()["metadata"])
            == 40
        )


class TestThroughStripePython:
    """The real SDK's own classes and calls, through `/v1` as the gateway rewrites it."""

    async def test_create_retrieve_update_list_delete(self, service: EventsService) -> None:
        owner = tenant()
        sdk, transport = stripe_client(service.client, owner)
        made = await sdk.v1.webhook_endpoints.create_async(
            {
                "url": URL,
                "enabled_events": ["payment_intent.succeeded", "charge.refunded"],
                "metadata": {"team": "orders"},
                "description": "shop",
            }
        )
        assert isinstance(made, stripe.WebhookEndpoint)
        assert made.id.startswith("we_")
        assert made.secret is not None
        assert made.secret.startswith("whsec_")
        assert made.enabled_events == ["payment_intent.succeeded", "charge.refunded"]
        assert made.metadata.to_dict() == {"team": "orders"}
        assert made.status == "enabled"
        assert made.livemode is False
        assert made["signature"] == "stripe"
        # The SDK sends its own Stripe-Version: the endpoint records it.
        assert made.api_version == stripe.api_version

        got = await sdk.v1.webhook_endpoints.retrieve_async(made.id)
        assert isinstance(got, stripe.WebhookEndpoint)
        assert (got.id, got.url, got.description) == (made.id, URL, "shop")
        assert "secret" not in got

        updated = await sdk.v1.webhook_endpoints.update_async(
            made.id, {"disabled": True, "metadata": {"team": "", "on_call": "ops"}}
        )
        assert (updated.status, updated.metadata.to_dict()) == ("disabled", {"on_call": "ops"})

        for _ in range(2):
            await sdk.v1.webhook_endpoints.create_async({"url": URL, "enabled_events": ["*"]})
        page = await sdk.v1.webhook_endpoints.list_async({"limit": 2})
        assert page.url == "/v1/webhook_endpoints"
        assert page.has_more is True
        seen = [endpoint.id async for endpoint in page.auto_paging_iter()]
        assert len(seen) == len(set(seen)) == 3
        assert made.id in seen
        assert all(path == "/v1/webhook_endpoints" for method, path in transport.asked[-2:])

        deleted = await sdk.v1.webhook_endpoints.delete_async(made.id)
        assert isinstance(deleted, stripe.WebhookEndpoint)
        assert (deleted.id, deleted.deleted) == (made.id, True)
        with pytest.raises(stripe.InvalidRequestError) as missing:
            await sdk.v1.webhook_endpoints.retrieve_async(made.id)
        assert missing.value.http_status == 404
        assert missing.value.code == "resource_missing"

    async def test_the_sdks_errors_for_bad_input_and_another_tenants_id(
        self, service: EventsService
    ) -> None:
        owner = tenant()
        sdk, _ = stripe_client(service.client, owner)
        with pytest.raises(stripe.InvalidRequestError) as bad:
            await sdk.v1.webhook_endpoints.create_async({"url": URL, "enabled_events": []})
        assert bad.value.param == "enabled_events"
        with pytest.raises(stripe.InvalidRequestError) as bad_url:
            await sdk.v1.webhook_endpoints.create_async(
                {"url": "ftp://x.example", "enabled_events": ["*"]}
            )
        assert bad_url.value.param == "url"
        theirs = await create(service.client, stripe_key(tenant()))
        for call in (
            sdk.v1.webhook_endpoints.retrieve_async(theirs["id"]),
            sdk.v1.webhook_endpoints.update_async(theirs["id"], {"description": "mine"}),
            sdk.v1.webhook_endpoints.delete_async(theirs["id"]),
        ):
            with pytest.raises(stripe.InvalidRequestError) as other:
                await call
            assert other.value.http_status == 404

    async def test_a_delivery_the_sdk_verifies(
        self, service: EventsService, redis: aioredis.Redis, receiver: Receiver
    ) -> None:
        owner = tenant()
        sdk, _ = stripe_client(service.client, owner)
        made = await sdk.v1.webhook_endpoints.create_async(
            {"url": receiver.url, "enabled_events": ["payment_intent.succeeded"]}
        )
        receiver.secret, receiver.signature = made.secret, "stripe"
        row = event_row(owner)
        await publish(redis, row)
        await receiver.wait_for(1)
        got = receiver.received[0]
        assert got.verified
        event = stripe.Webhook.construct_event(
            got.body, got.headers["Stripe-Signature"], made.secret
        )
        assert event.id == row["event_id"]
        assert json.loads(got.body)["tenant_id"] == owner


class TestIdempotentCreate:
    """The create's answer shows the secret and is never stored by the idempotency layer,
    so a retry under the same key (what every Stripe SDK sends after a lost answer) runs
    again: it must answer the endpoint its first run made, not make a second one."""

    async def test_a_retry_with_the_key_answers_the_same_endpoint_and_secret(
        self, service: EventsService
    ) -> None:
        owner = tenant()
        headers = {**stripe_key(owner), "Idempotency-Key": "we-retry-1"}
        first = await create(service.client, headers)
        again = await create(service.client, headers)
        assert (again["id"], again["secret"]) == (first["id"], first["secret"])
        listed = (await service.client.get(BASE, headers=key(owner))).json()["data"]
        assert [e["id"] for e in listed] == [first["id"]]

    async def test_the_key_with_other_parameters_is_an_idempotency_error(
        self, service: EventsService
    ) -> None:
        owner = tenant()
        headers = {**key(owner), "Idempotency-Key": "we-retry-2"}
        await create(service.client, headers)
        response = await service.client.post(
            BASE,
            json={"url": "http://127.0.0.1:9/other", "enabled_events": ["*"]},
            headers=headers,
        )
        detail = error(response, 400)
        assert (detail["type"], detail["code"]) == ("idempotency_error", "idempotency_key_reused")
        listed = (await service.client.get(BASE, headers=key(owner))).json()["data"]
        assert len(listed) == 1

    async def test_another_tenants_key_of_the_same_name_makes_its_own(
        self, service: EventsService
    ) -> None:
        one, other = tenant(), tenant()
        first = await create(service.client, {**key(one), "Idempotency-Key": "we-shared"})
        second = await create(service.client, {**key(other), "Idempotency-Key": "we-shared"})
        assert first["id"] != second["id"]

    async def test_without_a_key_two_creates_make_two(self, service: EventsService) -> None:
        owner = tenant()
        first = await create(service.client, key(owner))
        second = await create(service.client, key(owner))
        assert first["id"] != second["id"]
