"""What the gateway owes Stripe's clients on `/v1`, beside the rewrite: `Stripe-Version` taken
on every path and echoed on `/v1`, `Request-Id` on every `/v1` answer, Stripe's 404 for a
path Micro does not serve (never a redirect to a native path), and the balance as the SDK
reads it.

Auth, the ledger, payments and the gateway run for real on free ports in this process; the
official stripe-python SDK (its async client: the servers share this event loop) is one of
the clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import stripe

from shared.ids import new_id
from tests.support.stacks import ServicesStack

PASSWORD = "correct horse battery"
VERSION = "2026-10-28.endive"


async def api_key(gw: httpx.AsyncClient) -> dict[str, str]:
    """A new tenant's test key, as `Authorization` headers."""
    owner = await gw.post(
        "/auth/register", json={"email": f"{new_id('u')}@example.com", "password": PASSWORD}
    )
    assert owner.status_code == 201, owner.text
    key = await gw.post(
        "/auth/api_keys",
        json={"environment": "test"},
        headers={"Authorization": f"Bearer {owner.json()['access_token']}"},
    )
    assert key.status_code == 201, key.text
    return {"Authorization": f"Bearer {key.json()['secret']}"}


@contextlib.asynccontextmanager
async def sdk(stack: ServicesStack, headers: dict[str, str]) -> AsyncIterator[stripe.StripeClient]:
    # aiohttp: the SDK's httpx client posts with httpx's deprecated `data=<text>`.
    http_client = stripe.AIOHTTPClient()
    try:
        yield stripe.StripeClient(
            headers["Authorization"].removeprefix("Bearer "),
            base_addresses={"api": stack.url},
            http_client=http_client,
            max_network_retries=0,
        )
    finally:
        await http_client.close_async()  # type: ignore[no-untyped-call]  # unannotated in stripe


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    detail: dict[str, Any] = response.json()["error"]
    assert detail["request_id"] == response.headers["x-request-id"]
    return detail


class TestHeaders:
    async def test_a_v1_answer_echoes_stripe_version_and_names_its_request(
        self, stack: ServicesStack
    ) -> None:
        key = await api_key(stack.gw)
        response = await stack.gw.get("/v1/balance", headers={**key, "Stripe-Version": VERSION})
        assert response.status_code == 200, response.text
        assert response.headers["stripe-version"] == VERSION
        assert response.headers["request-id"] == response.headers["x-request-id"]
        assert response.headers["request-id"].startswith("req_")

    async def test_without_stripe_version_none_is_made_up(self, stack: ServicesStack) -> None:
        key = await api_key(stack.gw)
        response = await stack.gw.get("/v1/balance", headers=key)
        assert response.status_code == 200, response.text
        assert "stripe-version" not in response.headers
        assert response.headers["request-id"] == response.headers["x-request-id"]

    async def test_native_paths_take_stripe_version_and_answer_as_before(
        self, stack: ServicesStack
    ) -> None:
        key = await api_key(stack.gw)
        for path in ("/ledger/balance", "/payments/payment_intents"):
            response = await stack.gw.get(path, headers={**key, "Stripe-Version": "anything"})
            assert response.status_code == 200, response.text
            assert "stripe-version" not in response.headers
            assert "request-id" not in response.headers
        made = await stack.gw.post(
            "/payments/payment_intents",
            data={"amount": "500", "currency": "usd"},
            headers={**key, "Stripe-Version": VERSION, "Idempotency-Key": new_id("k")},
        )
        assert made.status_code == 200, made.text

    async def test_the_gateways_own_refusals_on_v1_carry_them_too(
        self, stack: ServicesStack
    ) -> None:
        missing = await stack.gw.get("/v1/balance", headers={"Stripe-Version": VERSION})
        assert error(missing, 401)["code"] == "missing_credentials"
        unknown = await stack.gw.get(
            "/v1/charges", headers={"Authorization": "Bearer sk_test_nope"}
        )
        for response in (missing, unknown):
            assert response.headers["request-id"] == response.headers["x-request-id"]
        assert missing.headers["stripe-version"] == VERSION


class TestUnrecognized:
    @pytest.mark.parametrize(
        ("method", "path"),
        [("GET", "/v1/charges"), ("POST", "/v1/charges"), ("GET", "/v1"), ("GET", "/v1/")],
    )
    async def test_a_resource_micro_does_not_serve_is_stripes_404(
        self, stack: ServicesStack, method: str, path: str
    ) -> None:
        # Refused before the credential is looked at, as Stripe refuses it.
        response = await stack.gw.request(method, path)
        detail = error(response, 404)
        assert detail["type"] == "invalid_request_error"
        assert detail["code"] == "route_not_found"
        assert detail["message"].startswith(f"Unrecognized request URL ({method}: {path}).")
        assert "Stripe-compatible API" in detail["message"]

    @pytest.mark.parametrize("path", ["/v1/customers/", "/v1/payment_intents/", "/v1/balance/"])
    async def test_a_trailing_slash_is_a_404_that_says_so_never_a_redirect(
        self, stack: ServicesStack, path: str
    ) -> None:
        key = await api_key(stack.gw)
        response = await stack.gw.get(path, headers=key)
        detail = error(response, 404)
        assert "location" not in response.headers
        assert detail["message"].startswith(f"Unrecognized request URL (GET: {path}).")
        assert "drop the slash" in detail["message"]

    async def test_an_unknown_path_under_a_served_resource_names_the_v1_path(
        self, stack: ServicesStack
    ) -> None:
        key = await api_key(stack.gw)
        response = await stack.gw.get("/v1/payment_intents/pi_123/nothing_here", headers=key)
        detail = error(response, 404)
        assert detail["message"].startswith(
            "Unrecognized request URL (GET: /v1/payment_intents/pi_123/nothing_here)."
        )
        assert "/payments/" not in detail["message"]
        wrong_method = await stack.gw.delete("/v1/balance", headers=key)
        detail = error(wrong_method, 405)
        assert detail["message"] == "DELETE is not allowed on /v1/balance."
        assert wrong_method.headers["allow"] == "GET, HEAD"

    @pytest.mark.parametrize("path", ["/ledger/accounts/", "/payments/payment_intents/"])
    async def test_a_native_path_with_a_trailing_slash_never_shows_a_service_address(
        self, stack: ServicesStack, path: str
    ) -> None:
        key = await api_key(stack.gw)
        response = await stack.gw.get(path, headers=key)
        error(response, 404)
        assert "location" not in response.headers

    async def test_native_paths_keep_micros_wording(self, stack: ServicesStack) -> None:
        key = await api_key(stack.gw)
        response = await stack.gw.get("/payments/payment_intents/pi_123/nothing_here", headers=key)
        assert error(response, 404)["message"] == (
            "Unrecognized request URL (GET /payments/payment_intents/pi_123/nothing_here)."
        )
        unknown = await stack.gw.get("/charges")
        assert error(unknown, 404)["message"] == "Unrecognized request URL (GET /charges)."


class TestTheSdk:
    async def test_errors_carry_the_request_id(self, stack: ServicesStack) -> None:
        async with sdk(stack, await api_key(stack.gw)) as client:
            with pytest.raises(stripe.InvalidRequestError) as raised:
                await client.raw_request_async("get", "/v1/charges")
        assert raised.value.http_status == 404
        assert raised.value.request_id is not None
        assert raised.value.request_id.startswith("req_")
        wrong = {"Authorization": "Bearer sk_test_0000000000000000000000000000"}
        async with sdk(stack, wrong) as bad:
            with pytest.raises(stripe.AuthenticationError) as refused:
                await bad.v1.balance.retrieve_async()
        assert refused.value.request_id is not None

    async def test_the_balance_shows_a_payment_once_the_ledger_has_it(
        self, stack: ServicesStack
    ) -> None:
        key = await api_key(stack.gw)
        async with sdk(stack, key) as client:
            balance = await self.after_a_payment(client)
        [available] = balance.available
        assert (available.amount, available.currency) == (5000, "usd")
        assert available.source_types is not None
        assert available.source_types.card == 5000
        [pending] = balance.pending
        assert (pending.amount, pending.currency) == (0, "usd")
        native = await stack.gw.get("/ledger/balance", headers=key)
        assert native.json() == balance.to_dict()

    async def after_a_payment(self, client: stripe.StripeClient) -> stripe.Balance:
        """The balance, empty before and once a payment of 5000 usd has reached it."""
        empty = await client.v1.balance.retrieve_async()
        assert isinstance(empty, stripe.Balance)
        assert (empty.available, empty.pending, empty.livemode) == ([], [], False)
        assert empty.last_response is not None
        assert empty.last_response.request_id is not None
        intent = await client.v1.payment_intents.create_async(
            params={"amount": 5000, "currency": "usd", "payment_method": "pm_card_visa"}
        )
        confirmed = await client.v1.payment_intents.confirm_async(intent.id)
        assert confirmed.status == "succeeded"
        began = time.monotonic()
        while True:
            balance = await client.v1.balance.retrieve_async()
            if balance.available:
                break
            assert time.monotonic() - began < 10, "the payment never reached the balance"
            await asyncio.sleep(0.1)
        return balance
