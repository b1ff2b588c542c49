"""Live mode is real money: off until a platform admin turns it on, and then only through a
real provider.

Everything goes through the outside door: the gateway, auth, the ledger, payments and the
wallet run for real on free ports in this process, against the session's PostgreSQL and
Redis, with Paystack played by the fake in `tests.fakes.providers`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.auth.settings import DEV_ADMIN_EMAIL
from shared.ids import new_id
from tests.support.asgi import identity_headers
from tests.support.secrets import TEST_ADMIN_PASSWORD
from tests.support.stacks import PAYSTACK_LIVE_KEY, ServicesStack

PASSWORD = "correct horse battery"
BANK = {"account_number": "0123456789", "bank_code": "058"}
INTENTS = "/payments/payment_intents"


# -- people, keys and switches, made as a user would ---------------------------------------


@dataclass
class Owner:
    tenant_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(gw: httpx.AsyncClient) -> Owner:
    response = await gw.post(
        "/auth/register", json={"email": f"{new_id('u')}@example.com", "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Owner(body["user"]["tenant_id"], body["access_token"])


async def signup(gw: httpx.AsyncClient, owner: Owner) -> str:
    response = await gw.post(
        "/auth/signup",
        json={
            "email": f"{new_id('u')}@example.com",
            "password": PASSWORD,
            "tenant": owner.tenant_id,
        },
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["access_token"]
    return token


async def platform_admin(gw: httpx.AsyncClient) -> dict[str, str]:
    response = await gw.post(
        "/auth/admin", json={"email": DEV_ADMIN_EMAIL, "password": TEST_ADMIN_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"])


async def create_key(gw: httpx.AsyncClient, owner: Owner, environment: str = "test") -> str:
    response = await gw.post(
        "/auth/api_keys", json={"environment": environment}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    secret: str = response.json()["secret"]
    return secret


async def switch_live(gw: httpx.AsyncClient, tenant_id: str, *, enabled: bool) -> dict[str, Any]:
    response = await gw.post(
        f"/auth/tenants/{tenant_id}/live_mode",
        json={"enabled": enabled},
        headers=await platform_admin(gw),
    )
    assert response.status_code == 200, response.text
    tenant: dict[str, Any] = response.json()
    return tenant


async def live_tenant(gw: httpx.AsyncClient) -> dict[str, str]:
    """The live key's headers of a new tenant whose live mode is on."""
    owner = await register(gw)
    await switch_live(gw, owner.tenant_id, enabled=True)
    return bearer(await create_key(gw, owner, "live"))


def error(response: httpx.Response) -> dict[str, Any]:
    detail: dict[str, Any] = response.json()["error"]
    assert detail["request_id"] == response.headers["x-request-id"]
    return detail


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    detail = error(response)
    assert detail["code"] == code, detail
    return detail


async def status_within(
    gw: httpx.AsyncClient, path: str, headers: dict[str, str], status: int, seconds: float = 1.0
) -> float:
    """Seconds until `path` answers `status`; fails after `seconds`."""
    began = time.monotonic()
    while True:
        response = await gw.get(path, headers=headers)
        if response.status_code == status:
            return time.monotonic() - began
        assert time.monotonic() - began < seconds, (response.status_code, response.text)
        await asyncio.sleep(0.02)


# -- the door: a tenant without live mode ------------------------------------------------------


class TestWithoutLiveMode:
    async def test_a_live_key_is_403_and_told_how_to_ask(self, stack: ServicesStack) -> None:
        gw = stack.gw
        owner = await register(gw)
        live = bearer(await create_key(gw, owner, "live"))
        for method, path, body in (
            ("GET", "/ledger/accounts", None),
            ("POST", INTENTS, {"amount": 500, "currency": "usd", "payment_method": "pm_card_visa",
                               "confirm": True}),
            ("POST", "/wallet", {"owner": "customer_1", "currency": "usd"}),
            ("POST", "/cli/sessions", {}),
        ):  # fmt: skip
            response = await gw.request(method, path, json=body, headers=live)
            detail = refused(response, 403, "live_mode_disabled")
            assert detail["type"] == "permission_error"
            assert f"/auth/tenants/{owner.tenant_id}/live_mode/request" in detail["message"]
        # The same tenant's test key is untouched.
        test = bearer(await create_key(gw, owner))
        assert (await gw.get("/ledger/accounts", headers=test)).status_code == 200

    async def test_a_session_sending_micro_mode_live_is_403_whatever_its_role(
        self, stack: ServicesStack
    ) -> None:
        gw = stack.gw
        owner = await register(gw)
        user = bearer(await signup(gw, owner))
        live = {"Micro-Mode": "live"}
        for headers, path in (
            (user, "/wallet"),
            (owner.headers, "/wallet"),
            (owner.headers, "/ledger/accounts"),
            (owner.headers, INTENTS),
        ):
            response = await gw.get(path, headers={**headers, **live})
            refused(response, 403, "live_mode_disabled")
        # An admin asking for live in the CLI session's body is refused the same way.
        response = await gw.post("/cli/sessions", json={"livemode": True}, headers=owner.headers)
        refused(response, 403, "live_mode_disabled")
        # Without the header the user reaches its own (test) wallets as before.
        assert (await gw.get("/wallet", headers=user)).status_code == 200

    async def test_a_requested_but_not_enabled_tenant_is_still_403(
        self, stack: ServicesStack
    ) -> None:
        gw = stack.gw
        owner = await register(gw)
        live = bearer(await create_key(gw, owner, "live"))
        asked = await gw.post(
            f"/auth/tenants/{owner.tenant_id}/live_mode/request", headers=owner.headers
        )
        assert asked.json()["live_mode"] == "requested"
        refused(await gw.get("/ledger/accounts", headers=live), 403, "live_mode_disabled")


# -- activation: a tenant admin asks, a platform admin decides ------------------------------


class TestActivation:
    async def test_request_then_enable_then_disable_each_reaching_the_gateway_within_a_second(
        self, stack: ServicesStack
    ) -> None:
        gw = stack.gw
        owner = await register(gw)
        tenant = (await gw.get(f"/tenants/{owner.tenant_id}", headers=owner.headers)).json()
        assert tenant["live_mode"] == "off"
        live = bearer(await create_key(gw, owner, "live"))
        # The gateway caches the "off" answer.
        refused(await gw.get("/ledger/accounts", headers=live), 403, "live_mode_disabled")

        path = f"/auth/tenants/{owner.tenant_id}/live_mode/request"
        first = await gw.post(path, headers=owner.headers)
        assert first.status_code == 200, first.text
        assert (first.json()["id"], first.json()["live_mode"]) == (owner.tenant_id, "requested")
        again = await gw.post(path, headers=owner.headers)  # idempotent
        assert again.status_code == 200
        assert again.json() == first.json()

        enabled = await switch_live(gw, owner.tenant_id, enabled=True)
        assert enabled["live_mode"] == "on"
        assert await status_within(gw, "/ledger/accounts", live, 200) < 1.0
        user = bearer(await signup(gw, owner))
        # A USER of a live tenant sees its own live wallets (none yet), as in test mode.
        listed = await gw.get("/wallet", headers={**user, "Micro-Mode": "live"})
        assert (listed.status_code, listed.json()["data"]) == (200, [])
        # ...and reaches nothing its role does not reach in test mode either.
        response = await gw.get(INTENTS, headers={**user, "Micro-Mode": "live"})
        refused(response, 403, "role_required")
        # Asking again once it is on changes nothing.
        assert (await gw.post(path, headers=owner.headers)).json()["live_mode"] == "on"
        assert (await switch_live(gw, owner.tenant_id, enabled=True))["live_mode"] == "on"

        disabled = await switch_live(gw, owner.tenant_id, enabled=False)
        assert disabled["live_mode"] == "off"
        assert await status_within(gw, "/ledger/accounts", live, 403) < 1.0
        refused(await gw.get("/ledger/accounts", headers=live), 403, "live_mode_disabled")
        shown = (await gw.get(f"/tenants/{owner.tenant_id}", headers=owner.headers)).json()
        assert shown["live_mode"] == "off"

    async def test_request_refuses_the_wrong_people(self, stack: ServicesStack) -> None:
        gw = stack.gw
        owner, stranger = await register(gw), await register(gw)
        user = bearer(await signup(gw, owner))
        path = f"/auth/tenants/{owner.tenant_id}/live_mode/request"
        refused(await gw.post(path, headers=user), 403, "role_required")
        # Another tenant's admin learns nothing about this tenant: 404, as for GET.
        refused(await gw.post(path, headers=stranger.headers), 404, "resource_missing")
        key = bearer(await create_key(gw, owner))
        refused(await gw.post(path, headers=key), 403, "session_required")
        refused(await gw.post(path), 401, "missing_credentials")
        unknown = f"/auth/tenants/{new_id('ten')}/live_mode/request"
        refused(await gw.post(unknown, headers=owner.headers), 404, "resource_missing")
        # None of it changed anything.
        shown = (await gw.get(f"/tenants/{owner.tenant_id}", headers=owner.headers)).json()
        assert shown["live_mode"] == "off"

    async def test_only_a_platform_admin_switches_it(self, stack: ServicesStack) -> None:
        gw = stack.gw
        owner = await register(gw)
        user = bearer(await signup(gw, owner))
        path = f"/auth/tenants/{owner.tenant_id}/live_mode"
        for headers in (owner.headers, user):
            response = await gw.post(path, json={"enabled": True}, headers=headers)
            refused(response, 403, "role_required")
        key = bearer(await create_key(gw, owner, "live"))
        refused(await gw.post(path, json={"enabled": True}, headers=key), 403, "session_required")
        admin = await platform_admin(gw)
        unknown = f"/auth/tenants/{new_id('ten')}/live_mode"
        refused(
            await gw.post(unknown, json={"enabled": True}, headers=admin), 404, "resource_missing"
        )
        shown = (await gw.get(f"/tenants/{owner.tenant_id}", headers=owner.headers)).json()
        assert shown["live_mode"] == "off"

    @pytest.mark.parametrize(
        ("body", "param"),
        [
            ({}, "enabled"),
            ({"enabled": "sometimes"}, "enabled"),
            ({"enabled": [True]}, "enabled"),
            ({"enabled": None}, "enabled"),
            ({"enabled": {"yes": 1}}, "enabled"),
            ({"enabled": True, "tenant_id": "ten_other"}, "tenant_id"),
        ],
    )
    async def test_bad_bodies_are_400(
        self, stack: ServicesStack, body: dict[str, Any], param: str
    ) -> None:
        gw = stack.gw
        owner = await register(gw)
        response = await gw.post(
            f"/auth/tenants/{owner.tenant_id}/live_mode",
            json=body,
            headers=await platform_admin(gw),
        )
        detail = refused(response, 400, response.json()["error"]["code"])
        assert detail["type"] == "invalid_request_error"
        assert detail["param"] == param

    async def test_unparsable_json_is_400_and_a_disabled_tenant_is_404(
        self, stack: ServicesStack
    ) -> None:
        gw = stack.gw
        owner = await register(gw)
        admin = await platform_admin(gw)
        path = f"/auth/tenants/{owner.tenant_id}/live_mode"
        garbage = await gw.post(
            path, content=b"{not json", headers={**admin, "Content-Type": "application/json"}
        )
        assert garbage.status_code == 400
        assert (await gw.delete(f"/tenants/{owner.tenant_id}", headers=admin)).status_code == 200
        refused(await gw.post(path, json={"enabled": True}, headers=admin), 404, "resource_missing")


# -- live money: real providers only --------------------------------------------------------


class TestLivePayments:
    @pytest.mark.parametrize(
        "method", ["pm_card_visa", "4242424242424242", "4242 4242 4242 4242", "pm_card_amex"]
    )
    async def test_a_test_card_is_declined_as_stripe_declines_it_and_moves_nothing(
        self, stack: ServicesStack, method: str
    ) -> None:
        gw = stack.gw
        live = await live_tenant(gw)
        body = {"amount": 5000, "currency": "usd", "payment_method": method, "confirm": True}
        response = await gw.post(INTENTS, json=body, headers=live)
        detail = refused(response, 402, "card_declined")
        assert detail["type"] == "card_error"
        assert detail["decline_code"] == "live_mode_test_card"
        assert detail["param"] == "payment_method"
        assert "live mode" in detail["message"]
        # Nothing was made, nothing reached the ledger.
        assert (await gw.get(INTENTS, headers=live)).json()["data"] == []
        await asyncio.sleep(0.5)  # the outbox relay would have posted by now
        assert (await gw.get("/ledger/accounts", headers=live)).json()["data"] == []

    async def test_in_test_mode_a_test_card_number_is_its_test_method(
        self, stack: ServicesStack
    ) -> None:
        gw = stack.gw
        owner = await register(gw)
        test = bearer(await create_key(gw, owner))
        body = {"amount": 700, "currency": "usd", "payment_method": "4242424242424242",
                "confirm": True}  # fmt: skip
        response = await gw.post(INTENTS, json=body, headers=test)
        assert response.status_code == 200, response.text
        # The card number itself is never kept.
        assert (response.json()["status"], response.json()["payment_method"]) == (
            "succeeded",
            "pm_card_visa",
        )
        declined = await gw.post(
            INTENTS, json={**body, "payment_method": "4000000000000002"}, headers=test
        )
        assert error(declined)["decline_code"] == "generic_decline"
        unknown = await gw.post(
            INTENTS, json={**body, "payment_method": "4111111111111112"}, headers=test
        )
        assert (unknown.status_code, error(unknown)["param"]) == (400, "payment_method")

    async def test_a_live_wallet_is_not_funded_by_a_test_card(self, stack: ServicesStack) -> None:
        gw = stack.gw
        live = await live_tenant(gw)
        wallet = await gw.post(
            "/wallet", json={"owner": "customer_1", "currency": "usd"}, headers=live
        )
        assert wallet.status_code == 201, wallet.text
        wallet_id = wallet.json()["id"]
        # The wallet's default method is the simulator's visa: declined in live mode.
        deposit = await gw.post(
            "/wallet/deposit", json={"wallet_id": wallet_id, "amount": 50000}, headers=live
        )
        detail = refused(deposit, 402, "card_declined")
        assert "known test card" in detail["message"]
        balance = await gw.get(f"/wallet/{wallet_id}/balance", headers=live)
        assert (balance.json()["available"], balance.json()["posted"]) == (0, 0)

    async def test_without_a_live_provider_every_path_is_400_naming_it(
        self, stack: ServicesStack
    ) -> None:
        gw = stack.gw
        owner = await register(gw)
        await switch_live(gw, owner.tenant_id, enabled=True)
        live = bearer(await create_key(gw, owner, "live"))
        for body, named in (
            ({"amount": 500, "currency": "usd"}, "simulator"),
            ({"amount": 500, "currency": "ngn", "provider": "paystack",
              "receipt_email": "a@example.com", "confirm": True}, "paystack"),
            ({"amount": 500, "currency": "ngn", "provider": "flutterwave",
              "receipt_email": "a@example.com"}, "flutterwave"),
        ):  # fmt: skip
            detail = refused(
                await gw.post(INTENTS, json=body, headers=live), 400, "provider_not_configured"
            )
            assert named in detail["message"]
            assert detail["param"] == "provider"
        payout = await gw.post(
            "/payments/payouts",
            json={"amount": 500, "currency": "ngn", "destination": BANK},
            headers=live,
        )
        assert "simulator" in refused(payout, 400, "provider_not_configured")["message"]
        payout = await gw.post(
            "/payments/payouts",
            json={"amount": 500, "currency": "ngn", "destination": BANK, "provider": "paystack"},
            headers=live,
        )
        assert "paystack" in refused(payout, 400, "provider_not_configured")["message"]

        asked_paystack = len(stack.paystack.requests)
        # A wallet: a deposit through a provider with no live account, and a withdrawal of
        # money that is there (put in through the ledger) with none either.
        made = await gw.post("/wallet", json={"owner": "c", "currency": "ngn"}, headers=live)
        wallet_id = made.json()["id"]
        deposit = await gw.post(
            "/wallet/deposit",
            json={"wallet_id": wallet_id, "amount": 500, "provider": "paystack"},
            headers=live,
        )
        assert "paystack" in refused(deposit, 400, "provider_not_configured")["message"]
        await fund(stack, owner.tenant_id, wallet_id, 3000)
        withdrawal = await gw.post(
            "/wallet/withdraw",
            json={"wallet_id": wallet_id, "amount": 1000, "destination": BANK},
            headers=live,
        )
        detail = refused(withdrawal, 400, "provider_not_configured")
        assert detail["operation"]["status"] == "failed"
        # The hold was given back.
        balance = (await gw.get(f"/wallet/{wallet_id}/balance", headers=live)).json()
        assert (balance["available"], balance["posted"]) == (3000, 3000)
        assert len(stack.paystack.requests) == asked_paystack

    async def test_a_real_provider_makes_live_work(self, stack: ServicesStack) -> None:
        gw = stack.gw
        live = await live_tenant(gw)
        put = "/payments/providers/paystack"
        test_key = await gw.put(put, json={"secret_key": "sk_test_0123456789abcdef"}, headers=live)
        assert refused(test_key, 400, "test_key_in_live_mode")["param"] == "secret_key"
        stored = await gw.put(put, json={"secret_key": PAYSTACK_LIVE_KEY}, headers=live)
        assert stored.status_code == 200, stored.text
        assert stored.json()["livemode"] is True

        body = {"amount": 500000, "currency": "ngn", "provider": "paystack",
                "receipt_email": "buyer@example.com", "confirm": True}  # fmt: skip
        response = await gw.post(INTENTS, json=body, headers=live)
        assert response.status_code == 200, response.text
        intent = response.json()
        assert (intent["status"], intent["livemode"]) == ("requires_action", True)
        assert intent["next_action"]["redirect_to_url"]["url"].startswith(stack.paystack.url)
        assert intent["id"] in stack.paystack.charges
        # A test card is still refused, even with a provider configured.
        card = {"amount": 500, "currency": "usd", "payment_method": "pm_card_visa",
                "confirm": True}  # fmt: skip
        declined = await gw.post(INTENTS, json=card, headers=live)
        assert error(declined)["decline_code"] == "live_mode_test_card"
        # ...and at confirm, whatever the intent was made with.
        unconfirmed = await gw.post(INTENTS, json={**body, "confirm": False}, headers=live)
        confirm = await gw.post(
            f"{INTENTS}/{unconfirmed.json()['id']}/confirm",
            json={"payment_method": "4242424242424242"},
            headers=live,
        )
        assert error(confirm)["decline_code"] == "live_mode_test_card"
        assert f"{unconfirmed.json()['id']}" not in stack.paystack.charges

        payout = await gw.post(
            "/payments/payouts",
            json={"amount": 1000, "currency": "ngn", "destination": BANK, "provider": "paystack"},
            headers=live,
        )
        assert payout.status_code == 200, payout.text
        assert payout.json()["livemode"] is True
        assert payout.json()["id"] in stack.paystack.transfers


async def fund(stack: ServicesStack, tenant_id: str, wallet_id: str, amount: int) -> None:
    """Money into a live wallet's ledger account as payments would credit it (a tenant's
    key may not: the account is the wallet's), straight at the ledger."""
    headers = identity_headers(
        tenant_id=tenant_id, livemode=True, principal="payments", principal_type="service"
    )
    async with httpx.AsyncClient(base_url=stack.ledger_url) as ledger:
        account = await ledger.post(
            "/ledger/accounts",
            json={"name": "Bank", "type": "asset", "currency": "ngn", "code": "acc_bank"},
            headers=headers,
        )
        assert account.status_code == 201, account.text
        posted = await ledger.post(
            "/ledger/transactions",
            json={"reference_id": new_id("ref"), "entries": [
                {"account_id": "acc_bank", "amount": amount, "direction": "debit"},
                {"account_id": f"wallet.{wallet_id}", "amount": amount, "direction": "credit"},
            ]},
            headers=headers,
        )  # fmt: skip
        assert posted.status_code in (200, 201), posted.text
