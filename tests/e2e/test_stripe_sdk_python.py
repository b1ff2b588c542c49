"""The official Stripe Python SDK (stripe-python 16), unchanged, as a client of the whole stack.

Only the API base differs from what a Stripe user writes. Each test is one step of issue
#15's flow and asserts what the SDK hands back: its classes (picked from `object`), ids,
amounts and statuses, and the exception classes it raises from the status and `error.type`.
tests/e2e/test_stripe_sdk_node.py drives the same steps with the Node SDK.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid

import pytest
import stripe

from tests.e2e.stack import RunningStack
from tests.sdk.readme import readme_snippet
from tests.sdk.tenants import TIGHT_RATE_LIMIT, Merchant, merchant
from tests.support.listen import Received, receiver
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def shop(stack: RunningStack) -> Merchant:
    """The merchant of the whole flow; the balance step sums up what the others did."""
    return merchant(stack)


def sdk(stack: RunningStack, key: str) -> stripe.StripeClient:
    # The same client a Stripe user makes, pointed at the gateway; no retries, so every
    # answer the test sees is the first one.
    return stripe.StripeClient(key, base_addresses={"api": stack.gateway}, max_network_retries=0)


@pytest.fixture(scope="module")
def client(stack: RunningStack, shop: Merchant) -> stripe.StripeClient:
    return sdk(stack, shop.key)


def test_customers_are_created_retrieved_updated_listed_and_deleted(
    client: stripe.StripeClient,
) -> None:
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    customer = client.v1.customers.create(
        {"email": email, "name": "Ada Lovelace", "metadata": {"order": "7"}}
    )
    assert isinstance(customer, stripe.Customer)
    assert customer.id.startswith("cus_")
    assert (customer.email, customer.name, customer.livemode) == (email, "Ada Lovelace", False)
    assert customer.metadata is not None
    assert customer.metadata.to_dict() == {"order": "7"}
    assert isinstance(customer.created, int)

    updated = client.v1.customers.update(customer.id, {"description": "first customer"})
    assert (updated.id, updated.description, updated.email) == (
        customer.id,
        "first customer",
        email,
    )
    assert client.v1.customers.retrieve(customer.id).description == "first customer"

    found = client.v1.customers.list({"email": email})
    assert [c.id for c in found.data] == [customer.id]

    more = [client.v1.customers.create({"name": f"n{i}"}).id for i in range(4)]
    listed = [c.id for c in client.v1.customers.list({"limit": 2}).auto_paging_iter()]
    assert listed[:5] == [*reversed(more), customer.id]

    deleted = client.v1.customers.delete(more[0])
    assert (deleted.id, deleted.deleted) == (more[0], True)
    assert client.v1.customers.retrieve(more[0]).deleted is True
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.customers.retrieve("cus_doesnotexist")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")


def test_a_customer_pays_is_captured_in_part_and_refunded_in_part(
    client: stripe.StripeClient,
) -> None:
    customer = client.v1.customers.create({"email": "grace@example.com"})
    intent = client.v1.payment_intents.create(
        {
            "amount": 5000,
            "currency": "usd",
            "customer": customer.id,
            "capture_method": "manual",
            "metadata": {"order": "42"},
        }
    )
    assert isinstance(intent, stripe.PaymentIntent)
    assert intent.id.startswith("pi_")
    assert (intent.status, intent.customer, intent.capture_method) == (
        "requires_payment_method",
        customer.id,
        "manual",
    )
    assert intent.latest_charge is None
    assert intent.metadata.to_dict() == {"order": "42"}

    confirmed = client.v1.payment_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    assert (confirmed.id, confirmed.status) == (intent.id, "requires_capture")
    assert (confirmed.amount_capturable, confirmed.amount_received) == (5000, 0)
    assert isinstance(confirmed.latest_charge, str)

    captured = client.v1.payment_intents.capture(intent.id, {"amount_to_capture": 3000})
    assert (captured.status, captured.amount_received, captured.amount_capturable) == (
        "succeeded",
        3000,
        0,
    )

    refund = client.v1.refunds.create(
        {"payment_intent": intent.id, "amount": 1000, "metadata": {"why": "one broken"}}
    )
    assert isinstance(refund, stripe.Refund)
    assert refund.id.startswith("re_")
    assert (refund.amount, refund.currency, refund.status) == (1000, "usd", "succeeded")
    assert refund.payment_intent == intent.id
    noted = client.v1.refunds.update(refund.id, {"metadata": {"ticket": "9"}})
    assert noted.metadata is not None
    assert noted.metadata.to_dict() == {
        "why": "one broken",
        "ticket": "9",
    }
    refunded = client.v1.refunds.retrieve(refund.id, {"expand": ["payment_intent"]})
    assert isinstance(refunded.payment_intent, stripe.PaymentIntent)
    assert refunded.payment_intent.id == intent.id

    expanded = client.v1.payment_intents.retrieve(
        intent.id, {"expand": ["customer", "payment_method", "latest_charge"]}
    )
    assert isinstance(expanded.customer, stripe.Customer)
    assert expanded.customer.email == "grace@example.com"
    assert isinstance(expanded.payment_method, stripe.PaymentMethod)
    assert expanded.payment_method.card is not None
    assert expanded.payment_method.card.last4 == "4242"
    charge = expanded.latest_charge
    assert isinstance(charge, stripe.Charge)
    assert (charge.id, charge.payment_intent) == (confirmed.latest_charge, intent.id)
    # As Stripe counts a partial capture: the 2000 not captured are refunded too.
    assert (charge.amount, charge.amount_captured, charge.amount_refunded) == (5000, 3000, 3000)
    assert charge.refunded is False
    assert (charge.captured, charge.paid, charge.status) == (True, True, "succeeded")

    listed = client.v1.payment_intents.list({"limit": 1, "expand": ["data.customer"]})
    assert isinstance(listed.data[0].customer, stripe.Customer)

    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.payment_intents.retrieve(intent.id, {"expand": ["amount"]})
    assert (unknown.value.http_status, unknown.value.param) == (400, "expand")


def test_a_test_card_is_attached_to_a_customer_and_pays(client: stripe.StripeClient) -> None:
    visa = client.v1.payment_methods.retrieve("pm_card_visa")
    assert isinstance(visa, stripe.PaymentMethod)
    assert (visa.type, visa.customer) == ("card", None)
    assert visa.card is not None
    assert (visa.card.brand, visa.card.last4) == ("visa", "4242")

    customer = client.v1.customers.create({"name": "Katherine Johnson"})
    attached = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    assert attached.id.startswith("pm_")
    assert attached.id != "pm_card_visa"
    assert attached.customer == customer.id
    assert attached.card is not None
    assert attached.card.last4 == "4242"
    methods = client.v1.payment_methods.list({"customer": customer.id, "type": "card"})
    assert [m.id for m in methods.data] == [attached.id]
    assert [m.id for m in client.v1.customers.payment_methods.list(customer.id).data] == [
        attached.id
    ]

    paid = client.v1.payment_intents.create(
        {
            "amount": 1200,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": attached.id,
            "confirm": True,
        }
    )
    assert (paid.status, paid.payment_method, paid.amount_received) == (
        "succeeded",
        attached.id,
        1200,
    )

    stranger = client.v1.customers.create({"name": "someone else"})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.payment_intents.create(
            {
                "amount": 100,
                "currency": "usd",
                "customer": stranger.id,
                "payment_method": attached.id,
            }
        )
    assert refused.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as no_customer:
        client.v1.payment_intents.create(
            {"amount": 100, "currency": "usd", "customer": "cus_doesnotexist"}
        )
    assert (no_customer.value.code, no_customer.value.param) == ("resource_missing", "customer")

    detached = client.v1.payment_methods.detach(attached.id)
    assert (detached.id, detached.customer) == (attached.id, None)


def test_auto_pagination_walks_every_page(stack: RunningStack) -> None:
    """Its own merchant, so the list holds exactly what this test made."""
    client = sdk(stack, merchant(stack).key)
    made = [
        client.v1.payment_intents.create({"amount": 100 + i, "currency": "usd"}) for i in range(7)
    ]
    first = client.v1.payment_intents.list({"limit": 3})
    assert (len(first.data), first.has_more, first.url) == (3, True, "/v1/payment_intents")
    walked = list(client.v1.payment_intents.list({"limit": 3}).auto_paging_iter())
    assert all(isinstance(intent, stripe.PaymentIntent) for intent in walked)
    assert [intent.id for intent in walked] == [intent.id for intent in reversed(made)]
    assert [intent.amount for intent in walked] == list(range(106, 99, -1))


def test_a_declined_card_raises_card_error_with_its_decline_code(
    client: stripe.StripeClient,
) -> None:
    intent = client.v1.payment_intents.create({"amount": 2500, "currency": "usd"})
    with pytest.raises(stripe.CardError) as declined:
        client.v1.payment_intents.confirm(
            intent.id, {"payment_method": "pm_card_visa_chargeDeclinedInsufficientFunds"}
        )
    error = declined.value
    assert (error.http_status, error.code) == (402, "card_declined")
    assert error.error is not None
    assert error.error.decline_code == "insufficient_funds"
    failed = error.error.payment_intent
    assert isinstance(failed, stripe.PaymentIntent)
    assert (failed.id, failed.status, failed.amount) == (
        intent.id,
        "requires_payment_method",
        2500,
    )
    assert failed.last_payment_error is not None
    assert failed.last_payment_error.decline_code == "insufficient_funds"

    with pytest.raises(stripe.CardError) as at_once:
        client.v1.payment_intents.create(
            {
                "amount": 2500,
                "currency": "usd",
                "payment_method": "pm_card_chargeDeclined",
                "confirm": True,
            }
        )
    assert at_once.value.error is not None
    assert at_once.value.error.decline_code == "generic_decline"


def test_an_idempotency_key_replayed_gives_the_same_object(client: stripe.StripeClient) -> None:
    key = f"order-{uuid.uuid4()}"
    params: stripe.params.PaymentIntentCreateParams = {"amount": 700, "currency": "usd"}
    first = client.v1.payment_intents.create(params, {"idempotency_key": key})
    again = client.v1.payment_intents.create(params, {"idempotency_key": key})
    assert isinstance(again, stripe.PaymentIntent)
    assert (again.id, again.amount, again.created) == (first.id, 700, first.created)
    assert first.last_response is not None
    assert again.last_response is not None
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"

    with pytest.raises(stripe.IdempotencyError) as reused:
        client.v1.payment_intents.create(
            {"amount": 800, "currency": "usd"}, {"idempotency_key": key}
        )
    assert reused.value.http_status == 400


def delivery_of(received: list[Received], event_type: str, object_id: str) -> Received | None:
    for delivery in received:
        event = json.loads(delivery.body)
        if event["type"] == event_type and event["data"]["object"]["id"] == object_id:
            return delivery
    return None


def test_a_webhook_endpoint_gets_events_the_sdk_verifies(client: stripe.StripeClient) -> None:
    started = int(time.time()) - 1
    with receiver() as app:
        endpoint = client.v1.webhook_endpoints.create(
            {"url": app.url, "enabled_events": ["payment_intent.succeeded"]}
        )
        assert isinstance(endpoint, stripe.WebhookEndpoint)
        assert endpoint.id.startswith("we_")
        assert (endpoint.url, endpoint.status, endpoint.enabled_events) == (
            app.url,
            "enabled",
            ["payment_intent.succeeded"],
        )
        assert endpoint.secret is not None
        assert endpoint.secret.startswith("whsec_")
        app.secret = endpoint.secret
        # As Stripe's: the secret is shown on create only.
        assert "secret" not in client.v1.webhook_endpoints.retrieve(endpoint.id)
        described = client.v1.webhook_endpoints.update(endpoint.id, {"description": "shop"})
        assert described.description == "shop"
        assert endpoint.id in [e.id for e in client.v1.webhook_endpoints.list().data]

        paid = client.v1.payment_intents.create(
            {"amount": 900, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
        )
        delivery = eventually(
            lambda: delivery_of(app.delivered(), "payment_intent.succeeded", paid.id),
            within=30,
            what="the payment_intent.succeeded delivery",
        )
    header = delivery.headers.get("stripe-signature")
    assert header is not None, f"no Stripe-Signature among {sorted(delivery.headers)}"
    assert re.fullmatch(r"t=\d+(,v1=[0-9a-f]{64})+", header), header
    event = stripe.Webhook.construct_event(delivery.body, header, endpoint.secret)
    assert isinstance(event, stripe.Event)
    assert event.type == "payment_intent.succeeded"
    assert event.data.object["id"] == paid.id
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.body + b" ", header, endpoint.secret)

    assert client.v1.events.retrieve(event.id).id == event.id
    listed = client.v1.events.list(
        {"type": "payment_intent.succeeded", "created": {"gte": started}, "limit": 100}
    )
    assert event.id in [e.id for e in listed.data]
    gone = client.v1.webhook_endpoints.delete(endpoint.id)
    assert (gone.id, gone.deleted) == (endpoint.id, True)


def test_an_unknown_id_is_an_invalid_request_naming_it(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.retrieve("pi_doesnotexist")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
    # What a user quotes to support: the SDK reads it from the `Request-Id` header.
    assert (missing.value.request_id or "").startswith("req_")
    with pytest.raises(stripe.InvalidRequestError) as invalid:
        client.v1.payment_intents.create({"amount": -5, "currency": "usd"})
    assert (invalid.value.http_status, invalid.value.param) == (400, "amount")
    with pytest.raises(stripe.InvalidRequestError) as unserved:
        client.v1.charges.list()
    assert unserved.value.http_status == 404
    assert re.match(
        r"Unrecognized request URL \(GET:? /v1/charges\)", str(unserved.value.user_message)
    )


def test_a_wrong_key_raises_authentication_error(stack: RunningStack) -> None:
    with pytest.raises(stripe.AuthenticationError) as refused:
        sdk(stack, "sk_test_" + "0" * 32).v1.payment_intents.list()
    assert refused.value.http_status == 401


def test_a_tenant_over_its_limit_raises_rate_limit_error(stack: RunningStack) -> None:
    client = sdk(stack, merchant(stack, rate_limit=TIGHT_RATE_LIMIT).key)
    for _ in range(TIGHT_RATE_LIMIT):
        client.v1.payment_intents.list()
    with pytest.raises(stripe.RateLimitError) as limited:
        client.v1.payment_intents.list()
    assert limited.value.http_status == 429
    assert limited.value.error is not None
    assert limited.value.error.type == "rate_limit_error"


def test_the_balance_shows_the_money(client: stripe.StripeClient) -> None:
    """What the merchant's payments received less what was refunded, as the SDK's own
    lists tell it, once the ledger has it (it posts a moment after each payment)."""
    client.v1.payment_intents.create(
        {"amount": 1500, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    received = sum(
        intent.amount_received
        for intent in client.v1.payment_intents.list({"limit": 100}).auto_paging_iter()
        if intent.currency == "usd"
    )
    refunded = sum(
        refund.amount
        for refund in client.v1.refunds.list({"limit": 100}).auto_paging_iter()
        if refund.status == "succeeded" and refund.currency == "usd"
    )
    assert received - refunded >= 1500

    def settled() -> stripe.Balance | None:
        balance = client.v1.balance.retrieve()
        available = sum(f.amount for f in balance.available if f.currency == "usd")
        pending = sum(f.amount for f in balance.pending if f.currency == "usd")
        # Every authorization of the flow was captured or declined: nothing is on hold.
        return balance if (available, pending) == (received - refunded, 0) else None

    balance = eventually(
        settled, within=30, what=f"{received - refunded} usd available and none pending"
    )
    assert isinstance(balance, stripe.Balance)
    assert balance.livemode is False
    available = [funds for funds in balance.available if funds.currency == "usd"]
    assert len(available) == 1
    assert available[0].source_types is not None
    assert available[0].source_types.card == available[0].amount


def test_the_readme_snippet_runs_as_written(stack: RunningStack, shop: Merchant) -> None:
    script = readme_snippet("python").replace("http://localhost:8080", stack.gateway)
    ran = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "KEY": shop.key},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "succeeded 1500 succeeded" in ran.stdout
    assert "card_declined generic_decline" in ran.stdout
