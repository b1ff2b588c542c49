"""Payment intents over the simulator: Stripe's state machine, input rules, the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import ServiceClient
from tests.support.asgi import identity_headers
from tests.support.payments import payments_client

BASE = "/payments/payment_intents"


def key(tenant: str = "ten_pay", idempotency: str | None = None) -> dict[str, str]:
    headers = identity_headers(tenant_id=tenant)
    if idempotency:
        headers["Idempotency-Key"] = idempotency
    return headers


@pytest.fixture
async def client(service_client: ServiceClient, dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    # The ledger is not running here: successes wait in the outbox, as they would.
    async with payments_client(service_client, dsn, relay_interval=3600) as http:
        yield http


async def create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post(
        BASE, json={"amount": 5000, "currency": "usd", **fields}, headers=key()
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def act(
    client: httpx.AsyncClient, intent_id: str, action: str, **body: Any
) -> httpx.Response:
    return await client.post(f"{BASE}/{intent_id}/{action}", json=body, headers=key())


async def outbox(dsn: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch("SELECT reference_id, body::text AS body FROM ledger_outbox"))
    finally:
        await conn.close()


class TestCreate:
    async def test_the_seed_call_creates_an_intent(self, client: httpx.AsyncClient) -> None:
        # Exactly as `curl -d '{...}'` sends it: JSON under a form content type.
        response = await client.post(
            BASE,
            content=b'{"amount": 5000, "currency": "usd"}',
            headers={**key(), "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200
        intent = response.json()
        assert intent["id"].startswith("pi_")
        assert (intent["amount"], intent["currency"], intent["status"]) == (
            5000,
            "usd",
            "requires_payment_method",
        )

    async def test_form_encoded_with_metadata(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            BASE,
            content=b"amount=1000&currency=NGN&metadata[order]=7",
            headers={**key(), "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200
        assert response.json()["currency"] == "ngn"
        assert response.json()["metadata"] == {"order": "7"}

    async def test_with_a_payment_method_it_awaits_confirmation(
        self, client: httpx.AsyncClient
    ) -> None:
        intent = await create(client, payment_method="pm_card_visa")
        assert intent["status"] == "requires_confirmation"

    async def test_confirm_at_once_succeeds_and_owes_the_ledger(
        self, client: httpx.AsyncClient, dsn: str
    ) -> None:
        intent = await create(client, payment_method="pm_card_visa", confirm=True)
        assert intent["status"] == "succeeded"
        assert intent["amount_received"] == 5000
        [row] = await outbox(dsn)
        assert row["reference_id"] == intent["id"]
        assert '"payments.balance.usd"' in row["body"]

    @pytest.mark.parametrize(
        ("body", "param"),
        [
            ({"currency": "usd"}, "amount"),
            ({"amount": 0, "currency": "usd"}, "amount"),
            ({"amount": -5, "currency": "usd"}, "amount"),
            ({"amount": 100_000_000, "currency": "usd"}, "amount"),
            ({"amount": 10.5, "currency": "usd"}, "amount"),
            ({"amount": "lots", "currency": "usd"}, "amount"),
            ({"amount": 5, "currency": "xyz"}, "currency"),
            ({"amount": 5}, "currency"),
            ({"amount": 5, "currency": "usd", "payment_method": "pm_nope"}, "payment_method"),
            ({"amount": 5, "currency": "usd", "capture_method": "later"}, "capture_method"),
            ({"amount": 5, "currency": "usd", "surprise": 1}, "surprise"),
        ],
    )
    async def test_bad_input_is_400_and_writes_nothing(
        self, client: httpx.AsyncClient, body: dict[str, Any], param: str
    ) -> None:
        response = await client.post(BASE, json=body, headers=key())
        assert response.status_code == 400
        assert response.json()["error"]["param"] == param
        listed = await client.get(BASE, headers=key())
        assert listed.json()["data"] == []

    async def test_no_identity_is_401(self, client: httpx.AsyncClient) -> None:
        response = await client.post(BASE, json={"amount": 5, "currency": "usd"})
        assert response.status_code == 401


class TestConfirm:
    async def test_visa_succeeds(self, client: httpx.AsyncClient) -> None:
        intent = await create(client)
        confirmed = await act(client, intent["id"], "confirm", payment_method="pm_card_visa")
        assert confirmed.status_code == 200
        assert confirmed.json()["status"] == "succeeded"

    @pytest.mark.parametrize(
        ("method", "decline_code"),
        [
            ("pm_card_chargeDeclined", "generic_decline"),
            ("pm_card_visa_chargeDeclinedInsufficientFunds", "insufficient_funds"),
        ],
    )
    async def test_a_decline_is_402_and_leaves_the_intent_retryable(
        self, client: httpx.AsyncClient, dsn: str, method: str, decline_code: str
    ) -> None:
        intent = await create(client)
        declined = await act(client, intent["id"], "confirm", payment_method=method)
        assert declined.status_code == 402
        error = declined.json()["error"]
        assert (error["type"], error["code"], error["decline_code"]) == (
            "card_error",
            "card_declined",
            decline_code,
        )
        after = (await client.get(f"{BASE}/{intent['id']}", headers=key())).json()
        assert after["status"] == "requires_payment_method"
        assert after["last_payment_error"]["decline_code"] == decline_code
        assert await outbox(dsn) == []
        retried = await act(client, intent["id"], "confirm", payment_method="pm_card_visa")
        assert retried.json()["status"] == "succeeded"
        assert retried.json()["last_payment_error"] is None

    async def test_authentication_required_needs_action(self, client: httpx.AsyncClient) -> None:
        intent = await create(client)
        response = await act(
            client, intent["id"], "confirm", payment_method="pm_card_authenticationRequired"
        )
        body = response.json()
        assert body["status"] == "requires_action"
        assert body["next_action"]["type"] == "redirect_to_url"
        assert body["next_action"]["redirect_to_url"]["url"].startswith(
            f"http://localhost:8080/webhooks/simulator/authenticate/{intent['id']}?token="
        )

    async def test_without_a_payment_method_is_400(self, client: httpx.AsyncClient) -> None:
        intent = await create(client)
        response = await act(client, intent["id"], "confirm")
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "payment_method"


class TestStateMachine:
    """Every action from every state it is refused in: 400 payment_intent_unexpected_state."""

    async def reach(self, client: httpx.AsyncClient, state: str) -> str:
        if state == "requires_payment_method":
            return str((await create(client))["id"])
        if state == "requires_confirmation":
            return str((await create(client, payment_method="pm_card_visa"))["id"])
        if state == "requires_action":
            intent = await create(client, payment_method="pm_card_authenticationRequired")
            await act(client, intent["id"], "confirm")
            return str(intent["id"])
        if state == "requires_capture":
            intent = await create(
                client, payment_method="pm_card_visa", capture_method="manual", confirm=True
            )
            return str(intent["id"])
        if state == "succeeded":
            return str((await create(client, payment_method="pm_card_visa", confirm=True))["id"])
        intent_id = str((await create(client))["id"])
        await act(client, intent_id, "cancel")
        return intent_id

    @pytest.mark.parametrize(
        ("state", "action", "allowed"),
        [
            (state, action, state in allowed_from)
            for action, allowed_from in {
                "confirm": {"requires_payment_method", "requires_confirmation"},
                "cancel": {
                    "requires_payment_method",
                    "requires_confirmation",
                    "requires_action",
                    "requires_capture",
                },
                "capture": {"requires_capture"},
            }.items()
            for state in (
                "requires_payment_method",
                "requires_confirmation",
                "requires_action",
                "requires_capture",
                "succeeded",
                "canceled",
            )
        ],
    )
    async def test_action_from_state(
        self, client: httpx.AsyncClient, state: str, action: str, allowed: bool
    ) -> None:
        intent_id = await self.reach(client, state)
        body = {"payment_method": "pm_card_visa"} if action == "confirm" else {}
        response = await act(client, intent_id, action, **body)
        if allowed:
            assert response.status_code == 200, response.text
        else:
            assert response.status_code == 400
            error = response.json()["error"]
            assert error["code"] == "payment_intent_unexpected_state"
            assert error["payment_intent"]["status"] == state

    async def test_partial_capture(self, client: httpx.AsyncClient, dsn: str) -> None:
        intent_id = await self.reach(client, "requires_capture")
        too_much = await act(client, intent_id, "capture", amount_to_capture=6000)
        assert too_much.status_code == 400
        captured = await act(client, intent_id, "capture", amount_to_capture=3000)
        assert captured.json()["status"] == "succeeded"
        assert captured.json()["amount_received"] == 3000
        [row] = await outbox(dsn)
        assert '"amount": 3000' in row["body"]

    async def test_cancel_records_the_reason(self, client: httpx.AsyncClient) -> None:
        intent_id = await self.reach(client, "requires_confirmation")
        response = await act(client, intent_id, "cancel", cancellation_reason="duplicate")
        assert response.json()["cancellation_reason"] == "duplicate"
        assert response.json()["canceled_at"] is not None

    async def test_update_before_confirmation_only(self, client: httpx.AsyncClient) -> None:
        intent_id = await self.reach(client, "requires_payment_method")
        updated = await client.post(
            f"{BASE}/{intent_id}",
            json={"amount": 7000, "payment_method": "pm_card_visa"},
            headers=key(),
        )
        assert updated.json()["amount"] == 7000
        assert updated.json()["status"] == "requires_confirmation"
        done = await self.reach(client, "succeeded")
        refused = await client.post(f"{BASE}/{done}", json={"amount": 1}, headers=key())
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "payment_intent_unexpected_state"


class TestScope:
    async def test_unknown_and_foreign_ids_are_404(self, client: httpx.AsyncClient) -> None:
        intent = await create(client)
        foreign = await client.get(f"{BASE}/{intent['id']}", headers=key(tenant="ten_other"))
        unknown = await client.get(f"{BASE}/pi_nothing", headers=key())
        foreign_confirm = await client.post(
            f"{BASE}/{intent['id']}/confirm", json={}, headers=key(tenant="ten_other")
        )
        assert [foreign.status_code, unknown.status_code, foreign_confirm.status_code] == [
            404,
            404,
            404,
        ]


class TestIdempotency:
    async def test_twenty_identical_requests_make_one_payment(
        self, client: httpx.AsyncClient, dsn: str
    ) -> None:
        body = {
            "amount": 5000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
        responses = await asyncio.gather(
            *(
                client.post(BASE, json=body, headers=key(idempotency="unique_req_123"))
                for _ in range(20)
            )
        )
        ok = [r for r in responses if r.status_code == 200]
        busy = [r for r in responses if r.status_code == 409]
        assert len(ok) + len(busy) == 20
        assert len({r.json()["id"] for r in ok}) == 1
        listed = (await client.get(BASE, headers=key())).json()["data"]
        assert len(listed) == 1
        assert len(await outbox(dsn)) == 1


class TestAuthenticationPage:
    async def action_url(self, client: httpx.AsyncClient, **fields: Any) -> tuple[str, str]:
        intent = await create(client, payment_method="pm_card_authenticationRequired", **fields)
        confirmed = (await act(client, intent["id"], "confirm")).json()
        url = confirmed["next_action"]["redirect_to_url"]["url"]
        return str(intent["id"]), url.removeprefix("http://localhost:8080")

    async def test_the_page_is_served_with_its_buttons(self, client: httpx.AsyncClient) -> None:
        _, path = await self.action_url(client)
        page = await client.get(path, headers=key(tenant=""))
        assert page.status_code == 200
        assert 'value="approve"' in page.text

    async def test_approving_completes_the_payment(
        self, client: httpx.AsyncClient, dsn: str
    ) -> None:
        intent_id, path = await self.action_url(client)
        done = await client.post(path, data={"outcome": "approve"}, headers=key(tenant=""))
        assert done.status_code == 200
        after = (await client.get(f"{BASE}/{intent_id}", headers=key())).json()
        assert after["status"] == "succeeded"
        assert after["next_action"] is None
        assert [row["reference_id"] for row in await outbox(dsn)] == [intent_id]

    async def test_failing_returns_it_to_requires_payment_method(
        self, client: httpx.AsyncClient
    ) -> None:
        intent_id, path = await self.action_url(client)
        await client.post(path, data={"outcome": "fail"}, headers=key(tenant=""))
        after = (await client.get(f"{BASE}/{intent_id}", headers=key())).json()
        assert after["status"] == "requires_payment_method"
        assert after["last_payment_error"]["code"] == "payment_intent_authentication_failure"

    async def test_a_wrong_token_changes_nothing(self, client: httpx.AsyncClient) -> None:
        intent_id, path = await self.action_url(client)
        forged = path.split("?token=")[0] + "?token=guess"
        response = await client.post(forged, data={"outcome": "approve"}, headers=key(tenant=""))
        assert response.status_code == 404
        after = (await client.get(f"{BASE}/{intent_id}", headers=key())).json()
        assert after["status"] == "requires_action"

    async def test_a_second_answer_is_refused(self, client: httpx.AsyncClient) -> None:
        _, path = await self.action_url(client)
        await client.post(path, data={"outcome": "approve"}, headers=key(tenant=""))
        again = await client.post(path, data={"outcome": "fail"}, headers=key(tenant=""))
        assert again.status_code == 404  # the token went with the action


class TestRefunds:
    async def paid(self, client: httpx.AsyncClient) -> str:
        return str((await create(client, payment_method="pm_card_visa", confirm=True))["id"])

    async def refund(self, client: httpx.AsyncClient, **body: Any) -> httpx.Response:
        return await client.post("/payments/refunds", json=body, headers=key())

    async def test_partial_then_the_rest_then_nothing(
        self, client: httpx.AsyncClient, dsn: str
    ) -> None:
        intent_id = await self.paid(client)
        first = await self.refund(client, payment_intent=intent_id, amount=2000)
        rest = await self.refund(client, payment_intent=intent_id)
        more = await self.refund(client, payment_intent=intent_id, amount=1)
        assert (first.json()["amount"], rest.json()["amount"]) == (2000, 3000)
        assert more.status_code == 400
        assert more.json()["error"]["code"] == "charge_already_refunded"
        references = sorted(row["reference_id"] for row in await outbox(dsn))
        assert references == sorted([intent_id, first.json()["id"], rest.json()["id"]])

    async def test_never_more_than_received(self, client: httpx.AsyncClient) -> None:
        intent_id = await self.paid(client)
        response = await self.refund(client, payment_intent=intent_id, amount=5001)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "amount_too_large"

    async def test_concurrent_refunds_never_exceed_the_payment(
        self, client: httpx.AsyncClient
    ) -> None:
        intent_id = await self.paid(client)
        responses = await asyncio.gather(
            *(self.refund(client, payment_intent=intent_id, amount=1000) for _ in range(8))
        )
        assert sorted(r.status_code for r in responses) == [200] * 5 + [400] * 3
        listed = await client.get(f"/payments/refunds?payment_intent={intent_id}", headers=key())
        assert sum(r["amount"] for r in listed.json()["data"]) == 5000

    async def test_only_a_succeeded_payment_is_refunded(self, client: httpx.AsyncClient) -> None:
        intent = await create(client)
        response = await self.refund(client, payment_intent=intent["id"])
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "payment_intent_unexpected_state"

    async def test_unknown_and_foreign_payments_are_404(self, client: httpx.AsyncClient) -> None:
        intent_id = await self.paid(client)
        unknown = await self.refund(client, payment_intent="pi_nothing")
        foreign = await client.post(
            "/payments/refunds", json={"payment_intent": intent_id}, headers=key("ten_other")
        )
        assert (unknown.status_code, foreign.status_code) == (404, 404)
