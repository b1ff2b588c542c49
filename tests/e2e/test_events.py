"""Events through the whole stack: a ledger posting's event reaches a webhook endpoint,
signed, and is listed with its delivery attempts; a tenant's webhook_url becomes its default
endpoint; an event can be sent again."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.accounts import create_key, key_headers, register
from tests.support.endpoint_app import pay, receiver
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e


def test_a_payment_reaches_a_webhook_endpoint(gw: httpx.Client) -> None:
    owner = register(gw)
    headers = key_headers(create_key(gw, owner)["secret"])
    with receiver() as app:
        response = gw.post(
            "/webhook_endpoints",
            json={"url": app.url, "enabled_events": ["payment_intent.succeeded"]},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        app.secret = response.json()["secret"]
        intent_id = pay(gw, headers)
        eventually(lambda: app.ids(), what="a verified delivery")
        body, delivered_headers, _ = app.received[0]

        event_id = delivered_headers["webhook-id"]
        event = gw.get(f"/events/{event_id}", headers=headers)
        assert event.status_code == 200
        assert event.content == body  # the log holds the bytes that were signed
        assert event.json()["type"] == "payment_intent.succeeded"
        assert event.json()["data"]["object"]["id"] == intent_id
        listed = gw.get("/events", params={"type": "payment_intent.succeeded"}, headers=headers)
        assert [e["id"] for e in listed.json()["data"]] == [event_id]

        attempts = eventually(
            lambda: gw.get(f"/events/{event_id}/deliveries", headers=headers).json()["data"],
            what="a recorded attempt",
        )
        assert attempts[0]["succeeded"]
        assert attempts[0]["status_code"] == 200

        resent = gw.post(f"/events/{event_id}/resend", headers=headers)
        assert resent.status_code == 200
        eventually(lambda: len(app.ids()) >= 2, what="the resent delivery")
        assert app.received[1][0] == body


def test_the_tenants_webhook_url_is_its_default_endpoint(gw: httpx.Client) -> None:
    owner = register(gw)
    headers = key_headers(create_key(gw, owner)["secret"])
    url = "http://127.0.0.1:4242/webhook"
    response = gw.put(
        f"/tenants/{owner.tenant_id}", json={"webhook_url": url}, headers=owner.headers
    )
    assert response.status_code == 200, response.text
    endpoints = eventually(
        lambda: gw.get("/webhook_endpoints", headers=headers).json()["data"],
        what="the default endpoint",
    )
    assert [(e["url"], e["default"]) for e in endpoints] == [(url, True)]
    updated = eventually(
        lambda: gw.get("/events", params={"type": "tenant.updated"}, headers=headers).json()[
            "data"
        ],
        what="the tenant.updated event",
    )
    assert updated[0]["data"]["object"]["webhook_url"] == url


def test_bad_input_through_the_gateway(gw: httpx.Client) -> None:
    owner = register(gw)
    headers = key_headers(create_key(gw, owner)["secret"])
    assert gw.get("/events").status_code == 401
    response = gw.post("/webhook_endpoints", json={"url": "nope"}, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["param"] in ("url", "enabled_events")
    assert gw.get("/events/evt_nope", headers=headers).status_code == 404
