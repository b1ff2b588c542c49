"""The official stripe-python SDK reads what payments answers: the objects its classes are
built from, `expand[]`, a deleted customer, and a decline raised as `CardError` with the
whole intent. Payments runs under uvicorn with the gateway's part played in front of it
(Stripe's `/v1` path onto the native one, the caller's identity in the stripe dialect); the
whole stack with both SDKs is `tests/e2e/test_stripe_sdk_*.py`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from cli.apps import app_factory, settings_class
from shared.identity import Identity, mint
from shared.v1 import native_path
from tests.support.asgi import serve_with_uvicorn
from tests.support.secrets import TEST_IDENTITY_KEY, TEST_SECRET_FIELDS

if TYPE_CHECKING:
    import stripe
else:  # the `stripe` dev dependency (the suite installs it)
    stripe = pytest.importorskip("stripe")

# stripe-python's httpx client hands httpx its body as `data=` bytes, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


class AsTheGateway:
    """What the gateway does to a `/v1` request before payments sees it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.identity = Identity(
            principal="key_sdk", principal_type="api_key", tenant_id="ten_sdk", dialect="stripe"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            native = native_path(scope["path"])
            assert native is not None, scope["path"]
            token = mint(self.identity, TEST_IDENTITY_KEY).encode()
            headers = [(k, v) for k, v in scope["headers"] if k != b"authorization"]
            scope = {
                **scope, "path": native, "raw_path": native.encode(),
                "headers": [*headers, (b"x-micro-identity", token)],
            }  # fmt: skip
        await self.app(scope, receive, send)


@pytest.fixture
async def sdk(dsn: str, redis_url: str) -> AsyncIterator[stripe.StripeClient]:
    settings = settings_class("payments").model_validate(
        {"database_url": dsn, "redis_url": redis_url, "relay_interval": 3600,
         **TEST_SECRET_FIELDS}
    )  # fmt: skip
    app = app_factory("payments")(settings)
    app.add_middleware(AsTheGateway)
    http = stripe.HTTPXClient()
    async with serve_with_uvicorn(app) as host:
        try:
            yield stripe.StripeClient(
                "sk_test_sdk", base_addresses={"api": f"http://{host}"}, http_client=http,
                max_network_retries=0,
            )  # fmt: skip
        finally:
            await http.close_async()  # type: ignore[no-untyped-call]  # untyped in the SDK


async def test_customer_method_intent_and_charge(sdk: stripe.StripeClient) -> None:
    customer = await sdk.v1.customers.create_async(
        params={"email": "ada@example.com", "metadata": {"order": "7"}}
    )
    assert isinstance(customer, stripe.Customer)
    assert customer.id.startswith("cus_")
    assert customer.metadata is not None
    assert customer.metadata["order"] == "7"

    card = await sdk.v1.payment_methods.retrieve_async("pm_card_visa")
    assert isinstance(card, stripe.PaymentMethod)
    assert card.card is not None
    assert card.card.last4 == "4242"
    method = await sdk.v1.payment_methods.attach_async(
        "pm_card_visa", params={"customer": customer.id}
    )
    assert method.customer == customer.id
    listed = await sdk.v1.customers.payment_methods.list_async(customer.id)
    assert [m.id for m in listed.data] == [method.id]

    intent = await sdk.v1.payment_intents.create_async(
        params={"amount": 5000, "currency": "usd", "customer": customer.id,
                "capture_method": "manual"}
    )  # fmt: skip
    assert isinstance(intent, stripe.PaymentIntent)
    assert intent.latest_charge is None
    confirmed = await sdk.v1.payment_intents.confirm_async(
        intent.id, params={"payment_method": method.id, "expand": ["latest_charge", "customer"]}
    )
    assert confirmed.status == "requires_capture"
    assert isinstance(confirmed.latest_charge, stripe.Charge)
    assert confirmed.latest_charge.paid is True
    assert isinstance(confirmed.customer, stripe.Customer)
    assert confirmed.customer.email == "ada@example.com"
    captured = await sdk.v1.payment_intents.capture_async(
        intent.id, params={"amount_to_capture": 3000}
    )
    assert captured.amount_received == 3000
    refund = await sdk.v1.refunds.create_async(
        params={"payment_intent": intent.id, "amount": 1000, "expand": ["payment_intent"]}
    )
    assert isinstance(refund, stripe.Refund)
    assert isinstance(refund.payment_intent, stripe.PaymentIntent)
    updated = await sdk.v1.refunds.update_async(refund.id, params={"metadata": {"k": "v"}})
    assert updated.metadata is not None
    assert updated.metadata["k"] == "v"

    deleted = await sdk.v1.customers.delete_async(customer.id)
    assert deleted.deleted is True
    again = await sdk.v1.customers.retrieve_async(customer.id)
    assert again.to_dict() == {"id": customer.id, "object": "customer", "deleted": True}


async def test_a_decline_raises_card_error_with_the_intent(sdk: stripe.StripeClient) -> None:
    intent = await sdk.v1.payment_intents.create_async(params={"amount": 700, "currency": "usd"})
    with pytest.raises(stripe.CardError) as raised:
        await sdk.v1.payment_intents.confirm_async(
            intent.id, params={"payment_method": "pm_card_visa_chargeDeclinedInsufficientFunds"}
        )
    error = raised.value
    assert error.code == "card_declined"
    assert error.error is not None
    assert error.error.decline_code == "insufficient_funds"
    assert error.error.payment_intent is not None
    assert error.error.payment_intent.id == intent.id
    assert error.error.payment_intent.status == "requires_payment_method"
    assert error.error.charge is not None


async def test_bad_requests_are_invalid_request_errors(sdk: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as no_customer:
        await sdk.v1.payment_intents.create_async(
            params={"amount": 700, "currency": "usd", "customer": "cus_nobody"}
        )
    assert no_customer.value.param == "customer"
    assert no_customer.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as bad_expand:
        await sdk.v1.payment_intents.list_async(params={"expand": ["data.amount"]})
    assert bad_expand.value.param == "expand"
