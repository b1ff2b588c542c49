"""Inbound provider webhooks: signatures, replays, unknown references, and which account
(platform or tenant, test or live) a webhook may touch."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests.fakes.providers import FakeProvider
from tests.support.payments import (
    BASE,
    PAYSTACK_KEY,
    anonymous,
    key,
    webhook,
)

TENANT_KEY = "sk_test_tenant_own_paystack_77"
LIVE_KEY = "sk_live_tenant_own_paystack_88"


async def started(
    client: httpx.AsyncClient, provider: str = "paystack", headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = await client.post(
        BASE,
        json={"amount": 5000, "currency": "ngn", "receipt_email": "ada@example.com",
              "provider": provider, "confirm": True},
        headers=headers or key(),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "requires_action"
    return body


async def status(client: httpx.AsyncClient, intent_id: str, **who: Any) -> str:
    body = (await client.get(f"{BASE}/{intent_id}", headers=key(**who))).json()
    return str(body["status"])


async def recorded(dsn: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT account, outcome FROM provider_events ORDER BY received_at")
        return [(r["account"], r["outcome"]) for r in rows]
    finally:
        await conn.close()


async def events_of(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r["type"] for r in await conn.fetch("SELECT type FROM outbox ORDER BY seq")]
    finally:
        await conn.close()


class TestSignatures:
    async def test_a_valid_signature_is_applied(
        self, client: httpx.AsyncClient, paystack: FakeProvider
    ) -> None:
        intent = await started(client)
        paystack.complete(intent["id"])
        response = await webhook(client, "paystack", paystack.charge_webhook(intent["id"]))
        assert response.status_code == 200
        assert await status(client, intent["id"]) == "succeeded"

    @pytest.mark.parametrize("how", ["wrong_key", "missing", "tampered", "garbage"])
    async def test_a_bad_paystack_signature_is_401_and_changes_nothing(
        self, client: httpx.AsyncClient, paystack: FakeProvider, dsn: str, how: str
    ) -> None:
        intent = await started(client)
        paystack.complete(intent["id"])
        body, headers = paystack.charge_webhook(intent["id"])
        if how == "wrong_key":
            body, headers = paystack.sign(body, secret="sk_test_someone_else")
        elif how == "missing":
            del headers["x-paystack-signature"]
        elif how == "tampered":
            body = body.replace(b'"amount": 5000', b'"amount": 5001')
        else:
            headers["x-paystack-signature"] = "zz" * 64
        before = await events_of(dsn)
        response = await webhook(client, "paystack", (body, headers))
        assert response.status_code == 401
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("authentication_error", "invalid_signature")
        assert set(error) >= {"type", "code", "message", "param", "request_id"}
        assert await status(client, intent["id"]) == "requires_action"
        assert await recorded(dsn) == []
        assert await events_of(dsn) == before

    @pytest.mark.parametrize("headers", [{"verif-hash": "not-the-hash"}, {}])
    async def test_a_bad_flutterwave_hash_is_401(
        self,
        client: httpx.AsyncClient,
        flutterwave: FakeProvider,
        dsn: str,
        headers: dict[str, str],
    ) -> None:
        intent = await started(client, "flutterwave")
        flutterwave.complete(intent["id"])
        body, _ = flutterwave.charge_webhook(intent["id"])
        response = await webhook(client, "flutterwave", (body, headers))
        assert response.status_code == 401
        assert await status(client, intent["id"]) == "requires_action"
        assert await recorded(dsn) == []

    async def test_the_alias_path_works_through_the_same_handler(
        self, client: httpx.AsyncClient, flutterwave: FakeProvider
    ) -> None:
        # The gateway rewrites /api/webhook/{provider} onto /webhooks/{provider}.
        from gateway.routing import canonical

        assert canonical("/api/webhook/flutterwave") == "/webhooks/flutterwave"
        intent = await started(client, "flutterwave")
        flutterwave.complete(intent["id"])
        body, headers = flutterwave.charge_webhook(intent["id"])
        response = await client.post(
            canonical("/api/webhook/flutterwave"), content=body, headers={**anonymous(), **headers}
        )
        assert response.json()["outcome"] == "succeeded"


class TestReplaysAndOrder:
    async def test_a_replay_changes_nothing(
        self, client: httpx.AsyncClient, paystack: FakeProvider, dsn: str
    ) -> None:
        intent = await started(client)
        paystack.complete(intent["id"])
        signed = paystack.charge_webhook(intent["id"])
        first = await webhook(client, "paystack", signed)
        again = await webhook(client, "paystack", signed)
        assert (first.json()["outcome"], again.json()["outcome"]) == ("succeeded", "duplicate")
        assert (await events_of(dsn)).count("payment_intent.succeeded") == 1
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT count(*) FROM ledger_outbox") == 1
        finally:
            await conn.close()

    async def test_an_unknown_reference_is_200_ignored_and_recorded(
        self, client: httpx.AsyncClient, paystack: FakeProvider, dsn: str
    ) -> None:
        intent = await started(client)
        paystack.complete(intent["id"])
        paystack.charges["pi_nobody_knows"] = paystack.charges[intent["id"]]
        body, _ = paystack.charge_webhook("pi_nobody_knows")
        body = body.replace(intent["id"].encode(), b"pi_nobody_knows")
        response = await webhook(client, "paystack", paystack.sign(body))
        assert response.status_code == 200
        assert response.json()["outcome"] == "unknown_reference"
        assert await recorded(dsn) == [("platform/test", "unknown_reference")]
        assert await status(client, intent["id"]) == "requires_action"

    async def test_an_event_we_do_not_handle_is_recorded_and_ignored(
        self, client: httpx.AsyncClient, paystack: FakeProvider, dsn: str
    ) -> None:
        body = b'{"event": "subscription.create", "data": {"id": 7}}'
        response = await webhook(client, "paystack", paystack.sign(body))
        assert response.json()["outcome"] == "ignored_type"
        assert await recorded(dsn) == [("platform/test", "ignored_type")]

    @pytest.mark.parametrize(
        "body",
        [
            b"not json",
            b"[1, 2]",
            b'{"data": {}}',
            b"event=charge.success",
            b'{"event": "charge.success\\u0000", "data": {}}',
            b"\xff\xfe{}",
        ],
    )
    async def test_a_signed_body_that_is_no_event_is_400(
        self, client: httpx.AsyncClient, paystack: FakeProvider, dsn: str, body: bytes
    ) -> None:
        response = await webhook(client, "paystack", paystack.sign(body))
        assert response.status_code == 400
        assert await recorded(dsn) == []

    async def test_an_unknown_provider_is_404(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/webhooks/stripe", content=b"{}", headers=anonymous())
        assert response.status_code == 404


class TestAccounts:
    """A tenant's own account: its webhooks come to /webhooks/{provider}/{tenant}, signed
    with its key, and touch only its intents in the mode that key belongs to."""

    async def own_account(self, client: httpx.AsyncClient, secret: str, live: bool) -> None:
        response = await client.put(
            "/payments/providers/paystack",
            json={"secret_key": secret},
            headers=key(livemode=live),
        )
        assert response.status_code == 200, response.text

    async def paid_at_paystack(
        self, client: httpx.AsyncClient, paystack: FakeProvider
    ) -> tuple[dict[str, Any], bytes]:
        """An intent started through the tenant's own account and paid at Paystack; the
        body of Paystack's charge webhook for it, unsigned."""
        intent = await started(client)
        paystack.complete(intent["id"])
        body, _ = paystack.charge_webhook(intent["id"])
        return intent, body

    async def test_tenant_webhooks_are_signed_with_the_tenant_key(
        self, client: httpx.AsyncClient, paystack: FakeProvider, dsn: str
    ) -> None:
        await self.own_account(client, PAYSTACK_KEY, live=False)  # the fake knows this key
        intent, body = await self.paid_at_paystack(client, paystack)
        # The platform's door does not know this intent: it went through the tenant's account.
        platform = await webhook(client, "paystack", paystack.sign(body))
        assert platform.json()["outcome"] == "unknown_reference"
        wrong = await webhook(
            client, "paystack", paystack.sign(body, secret=TENANT_KEY), "/ten_providers"
        )
        assert wrong.status_code == 401
        right = await webhook(client, "paystack", paystack.sign(body), "/ten_providers")
        assert right.json()["outcome"] == "succeeded"
        assert await status(client, intent["id"]) == "succeeded"

    async def test_another_tenants_door_cannot_touch_it(
        self, client: httpx.AsyncClient, paystack: FakeProvider
    ) -> None:
        await self.own_account(client, PAYSTACK_KEY, live=False)
        intent, body = await self.paid_at_paystack(client, paystack)
        # Another tenant whose account happens to use the same key (say, a shared sandbox).
        other = await client.put(
            "/payments/providers/paystack",
            json={"secret_key": PAYSTACK_KEY},
            headers=key("ten_other"),
        )
        assert other.status_code == 200
        response = await webhook(client, "paystack", paystack.sign(body), "/ten_other")
        assert response.json()["outcome"] == "unknown_reference"
        assert await status(client, intent["id"]) == "requires_action"

    async def test_a_live_key_cannot_settle_a_test_intent(
        self, client: httpx.AsyncClient, paystack: FakeProvider
    ) -> None:
        await self.own_account(client, PAYSTACK_KEY, live=False)
        await self.own_account(client, LIVE_KEY, live=True)
        intent, body = await self.paid_at_paystack(client, paystack)
        live = await webhook(
            client, "paystack", paystack.sign(body, secret=LIVE_KEY), "/ten_providers"
        )
        assert live.json()["outcome"] == "unknown_reference"
        assert await status(client, intent["id"]) == "requires_action"
        test = await webhook(client, "paystack", paystack.sign(body), "/ten_providers")
        assert test.json()["outcome"] == "succeeded"

    async def test_a_tenant_without_an_account_has_no_door(
        self, client: httpx.AsyncClient, paystack: FakeProvider
    ) -> None:
        body = b'{"event": "charge.success", "data": {"id": 1, "reference": "pi_x"}}'
        response = await webhook(client, "paystack", paystack.sign(body), "/ten_nobody")
        assert response.status_code == 401
