"""Retries and failover across providers (issue #16), against the providers' fakes over
real HTTP: provider routes per tenant and currency, a confirm tried on the next provider
when the first failed without taking money, never a second charge when the first answer
was lost, no failover on a decline, and every attempt listed and announced."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from cli.stack.ports import free_port
from services.payments.service.route_rules import parse_default
from services.payments.settings import PaymentsSettings
from tests.conftest import ServiceClient
from tests.fakes.providers import FakeProvider
from tests.support.asgi import identity_headers
from tests.support.payments import (
    BASE,
    anonymous,
    confirm,
    create,
    events_of,
    get,
    key,
    overrides,
    payments_client,
    postings,
    reconcile,
    webhook,
)
from tests.support.secrets import TEST_SECRET_FIELDS

ROUTING = "/payments/routing"
BOTH = ["paystack", "flutterwave"]


@pytest.fixture
async def client(
    service_client: ServiceClient, dsn: str, paystack: FakeProvider, flutterwave: FakeProvider
) -> AsyncIterator[httpx.AsyncClient]:
    async with payments_client(
        service_client, dsn, **overrides(paystack, flutterwave),
        provider_routes="ghs=flutterwave;kes=paystack,flutterwave",
    ) as http:  # fmt: skip
        yield http


async def route(
    client: httpx.AsyncClient, currency: str, providers: Any, **headers: str
) -> httpx.Response:
    return await client.put(
        f"{ROUTING}/{currency}", json={"providers": providers}, headers=headers or key()
    )


async def routed(client: httpx.AsyncClient, *, confirmed: bool = True) -> httpx.Response:
    """A naira payment created with no provider, over the route paystack -> flutterwave."""
    assert (await route(client, "ngn", BOTH)).status_code == 200
    return await create(client, confirm=confirmed)


async def attempts_of(client: httpx.AsyncClient, intent_id: str) -> list[dict[str, Any]]:
    """The intent's attempts, oldest first."""
    response = await client.get(f"{BASE}/{intent_id}/attempts", headers=key())
    assert response.status_code == 200, response.text
    listed = response.json()
    assert (listed["object"], listed["has_more"]) == ("list", False)
    assert listed["url"] == f"{BASE}/{intent_id}/attempts"
    return list(reversed(listed["data"]))


def operations(fake: FakeProvider) -> list[str]:
    return [op for op, _, _ in fake.requests]


class TestRoutes:
    async def test_a_tenant_sets_lists_and_removes_its_routes(
        self, client: httpx.AsyncClient
    ) -> None:
        put = await route(client, "NGN", BOTH)
        assert put.status_code == 200, put.text
        assert put.json() == {
            "object": "provider_route", "currency": "ngn", "providers": BOTH,
            "source": "tenant", "livemode": False, "updated": put.json()["updated"],
        }  # fmt: skip
        # Replaced as a whole.
        again = await route(client, "ngn", ["flutterwave", "paystack"])
        assert again.json()["providers"] == ["flutterwave", "paystack"]
        listed = (await client.get(ROUTING, headers=key())).json()
        assert listed["object"] == "list"
        # The tenant's own first, then the platform's defaults for the other currencies.
        assert [(r["currency"], r["source"], r["providers"]) for r in listed["data"]] == [
            ("ngn", "tenant", ["flutterwave", "paystack"]),
            ("ghs", "platform", ["flutterwave"]),
            ("kes", "platform", BOTH),
        ]
        one = await client.get(f"{ROUTING}/ghs", headers=key())
        assert (one.json()["source"], one.json()["providers"]) == ("platform", ["flutterwave"])
        gone = await client.delete(f"{ROUTING}/ngn", headers=key())
        assert gone.json() == {"object": "provider_route", "currency": "ngn", "deleted": True}
        assert (await client.get(f"{ROUTING}/ngn", headers=key())).status_code == 404
        assert (await client.delete(f"{ROUTING}/ngn", headers=key())).status_code == 404

    async def test_a_tenant_route_overrides_the_platform_default(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider
    ) -> None:
        # The platform routes kes to paystack first; this tenant wants flutterwave only.
        assert (await route(client, "kes", ["flutterwave"])).status_code == 200
        intent = (await create(client, currency="kes", confirm=True)).json()
        assert (intent["provider"], intent["status"]) == ("flutterwave", "requires_action")
        assert operations(paystack) == []
        # Without a route of its own, the default: paystack first.
        other = identity_headers(tenant_id="ten_other")
        made = await client.post(
            BASE,
            json={"amount": 5000, "currency": "kes", "receipt_email": "ada@example.com"},
            headers=other,
        )
        assert made.json()["provider"] == "paystack"

    async def test_no_route_and_a_named_provider_are_as_before(
        self, client: httpx.AsyncClient, paystack: FakeProvider
    ) -> None:
        assert (await route(client, "ngn", BOTH)).status_code == 200
        # A provider named by the request is the one used, route or not.
        named = (await create(client, provider="flutterwave")).json()
        assert named["provider"] == "flutterwave"
        # A currency with no route: the simulator, as ever.
        plain = (await create(client, currency="usd", payment_method="pm_card_visa")).json()
        assert plain["provider"] == "simulator"
        assert (await create(client)).json()["provider"] == "paystack"

    async def test_an_intent_keeps_the_route_it_was_created_on(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider
    ) -> None:
        intent = (await routed(client, confirmed=False)).json()
        assert (await route(client, "ngn", ["flutterwave"])).status_code == 200
        paystack.fail("initialize", 429)
        confirmed = (await confirm(client, intent["id"])).json()
        assert (confirmed["provider"], confirmed["status"]) == ("flutterwave", "requires_action")
        assert operations(paystack) == ["initialize"]
        # A new intent takes the new route.
        assert (await create(client)).json()["provider"] == "flutterwave"

    @pytest.mark.parametrize(
        ("currency", "providers", "param"),
        [
            ("ngn", ["paystack", "stripe"], "providers"),
            ("ngn", ["paystack", "paystack"], "providers"),
            ("ngn", [], "providers"),
            ("ngn", "paystack", "providers"),
            ("ngn", ["simulator", "paystack"], "providers"),
        ],
    )
    async def test_a_bad_route_is_refused(
        self, client: httpx.AsyncClient, currency: str, providers: Any, param: str
    ) -> None:
        response = await route(client, currency, providers)
        assert response.status_code == 400, response.text
        # (A provider Micro does not know is named by its place: providers[1].)
        assert response.json()["error"]["param"].startswith(param)
        assert (await client.get(f"{ROUTING}/ngn", headers=key())).status_code == 404

    @pytest.mark.parametrize("currency", ["xyz", "n%20g", "curr_01jgxk3m8q5t2n7v4r9w6y0zbc"])
    async def test_a_currency_micro_does_not_know_has_no_route(
        self, client: httpx.AsyncClient, currency: str
    ) -> None:
        for response in (
            await route(client, currency, ["paystack"]),
            await client.get(f"{ROUTING}/{currency}", headers=key()),
            await client.delete(f"{ROUTING}/{currency}", headers=key()),
        ):
            assert response.status_code == 404, response.text
            assert response.json()["error"]["param"] == "currency"
        assert (await client.get(ROUTING, headers=key())).json()["data"][0]["currency"] == "ghs"

    async def test_a_body_without_providers_is_refused(self, client: httpx.AsyncClient) -> None:
        response = await client.put(f"{ROUTING}/ngn", json={}, headers=key())
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "providers"

    @pytest.mark.parametrize("livemode", [False, True])
    async def test_the_simulator_is_no_route(
        self, client: httpx.AsyncClient, livemode: bool
    ) -> None:
        # It charges a payment method, the hosted providers collect one on their page: an
        # intent could not move between them. An unrouted currency goes to it, as ever.
        refused = await route(client, "usd", ["simulator"], **key(livemode=livemode))
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["param"].startswith("providers")
        assert (await route(client, "usd", ["flutterwave"])).status_code == 200
        # Modes never see each other's routes.
        shown = (await client.get(ROUTING, headers=key(livemode=True))).json()["data"]
        assert [r["currency"] for r in shown if r["source"] == "tenant"] == []

    async def test_another_tenant_neither_sees_nor_changes_them(
        self, client: httpx.AsyncClient
    ) -> None:
        assert (await route(client, "ngn", BOTH)).status_code == 200
        other = identity_headers(tenant_id="ten_other")
        listed = (await client.get(ROUTING, headers=other)).json()["data"]
        assert "ngn" not in [r["currency"] for r in listed]
        assert (await client.get(f"{ROUTING}/ngn", headers=other)).status_code == 404
        assert (await client.delete(f"{ROUTING}/ngn", headers=other)).status_code == 404
        assert (await route(client, "ngn", ["flutterwave"], **other)).status_code == 200
        mine = (await client.get(f"{ROUTING}/ngn", headers=key())).json()
        assert mine["providers"] == BOTH

    async def test_only_admins_and_keys_manage_routes(self, client: httpx.AsyncClient) -> None:
        user = identity_headers(
            tenant_id="ten_providers", principal="usr_1", principal_type="user", role="USER"
        )
        assert (await route(client, "ngn", BOTH, **user)).status_code == 403
        assert (await client.get(ROUTING, headers=user)).status_code == 403
        admin = identity_headers(
            tenant_id="ten_providers", principal="usr_2", principal_type="user",
            role="TENANT_ADMIN",
        )  # fmt: skip
        assert (await route(client, "ngn", BOTH, **admin)).status_code == 200
        assert (await client.get(ROUTING, headers=anonymous())).status_code in (401, 403)

    def test_the_platform_default_is_checked_at_start(self) -> None:
        assert parse_default("ngn=paystack, flutterwave; ghs=flutterwave") == {
            "ngn": ("paystack", "flutterwave"),
            "ghs": ("flutterwave",),
        }
        for bad in ("ngn", "ngn=stripe", "ngn=paystack,paystack", "xyz=paystack", "ngn="):
            with pytest.raises(ValueError, match=r"provider_routes|CURRENCY"):
                PaymentsSettings.model_validate({**TEST_SECRET_FIELDS, "provider_routes": bad})


class TestFailover:
    async def test_a_503_fails_over_to_the_next_provider(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider,
        dsn: str,
    ) -> None:  # fmt: skip
        paystack.fail("initialize", 503)
        moved = {"from_provider": "paystack", "to_provider": "flutterwave"}
        before = _failovers(**moved, reason="provider_timeout")
        response = await routed(client)
        assert response.status_code == 200, response.text
        assert _failovers(**moved, reason="provider_timeout") == before + 1
        intent = response.json()
        assert (intent["provider"], intent["status"]) == ("flutterwave", "requires_action")
        assert intent["next_action"]["redirect_to_url"]["url"].startswith(flutterwave.url)
        # Paystack's 503 may have acted: it was asked about the attempt, by its reference,
        # before Flutterwave was asked anything.
        assert operations(paystack) == ["initialize", "verify"]
        assert paystack.requests[1][1] == f"/transaction/verify/{intent['id']}"
        [(op, _, sent)] = flutterwave.requests
        assert (op, sent["tx_ref"]) == ("initialize", f"{intent['id']}-2")
        assert sent["redirect_url"].endswith(f"/webhooks/flutterwave/return/{intent['id']}")
        first, second = await attempts_of(client, intent["id"])
        assert (first["number"], first["provider"], first["provider_reference"]) == (
            1, "paystack", intent["id"],
        )  # fmt: skip
        assert (first["status"], first["error_code"]) == ("failed", "provider_timeout")
        assert "503" in first["error_message"]
        assert (second["number"], second["provider"], second["provider_reference"]) == (
            2, "flutterwave", f"{intent['id']}-2",
        )  # fmt: skip
        assert (second["status"], second["error_code"]) == ("requires_action", None)
        assert second["id"] == intent["latest_charge"] != first["id"]
        assert {a["payment_intent"] for a in (first, second)} == {intent["id"]}
        # The customer pays on Flutterwave's page: one success, one posting.
        flutterwave.complete(f"{intent['id']}-2")
        paid = await webhook(client, "flutterwave", flutterwave.charge_webhook(f"{intent['id']}-2"))
        assert paid.json()["outcome"] == "succeeded", paid.text
        assert (await get(client, intent["id"]))["status"] == "succeeded"
        assert (await attempts_of(client, intent["id"]))[1]["status"] == "succeeded"
        assert await postings(dsn) == [intent["id"]]

    async def test_a_lost_answer_whose_transaction_exists_is_never_failed_over(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider,
        dsn: str,
    ) -> None:  # fmt: skip
        # Paystack started the transaction, but its answer never came back in time.
        paystack.lost_answers.add("initialize")
        intent = (await routed(client)).json()
        # Asked, Paystack knows the transaction (not paid yet): it may still take money, so
        # no other provider is asked; the reconciler follows it up.
        assert (intent["status"], intent["provider"]) == ("processing", "paystack")
        assert "verify" in operations(paystack)
        assert flutterwave.requests == []
        [attempt] = await attempts_of(client, intent["id"])
        assert (attempt["status"], attempt["provider"]) == ("pending", "paystack")
        paystack.lost_answers.clear()
        paystack.complete(intent["id"])
        assert (await reconcile(dsn, paystack, flutterwave))["intent_succeeded"] == 1
        assert (await get(client, intent["id"]))["status"] == "succeeded"
        assert await postings(dsn) == [intent["id"]]
        assert flutterwave.requests == []
        assert [op for op in operations(paystack) if op == "initialize"] == ["initialize"]

    async def test_a_lost_answer_verified_uncharged_fails_over(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider
    ) -> None:
        # Paystack hangs past our patience and never starts the transaction.
        paystack.slow.add("initialize")
        intent = (await routed(client)).json()
        assert (intent["status"], intent["provider"]) == ("requires_action", "flutterwave")
        assert intent["id"] not in paystack.charges
        assert operations(paystack) == ["initialize", "verify"]
        assert operations(flutterwave) == ["initialize"]
        first, second = await attempts_of(client, intent["id"])
        assert (first["status"], first["error_code"]) == ("failed", "provider_timeout")
        assert "nothing was charged" in first["error_message"]
        assert second["status"] == "requires_action"

    async def test_an_unverifiable_lost_answer_stays_processing(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider
    ) -> None:
        # Paystack fails the request with a 500 and its verify too: it may have acted, and
        # nothing says it did not.
        paystack.fail("initialize", 500)
        paystack.fail("verify", 503)
        intent = (await routed(client)).json()
        assert (intent["status"], intent["provider"]) == ("processing", "paystack")
        assert flutterwave.requests == []
        [attempt] = await attempts_of(client, intent["id"])
        assert attempt["status"] == "pending"

    async def test_a_rate_limit_fails_over_at_once(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider
    ) -> None:
        paystack.fail("initialize", 429)
        intent = (await routed(client)).json()
        assert (intent["status"], intent["provider"]) == ("requires_action", "flutterwave")
        # A 429 is turned away unprocessed: nothing to verify.
        assert operations(paystack) == ["initialize"]
        first, second = await attempts_of(client, intent["id"])
        assert (first["status"], first["error_code"]) == ("failed", "provider_rate_limited")
        assert (second["provider"], second["status"]) == ("flutterwave", "requires_action")

    async def test_an_unreachable_provider_fails_over_at_once(
        self, service_client: ServiceClient, dsn: str, paystack: FakeProvider,
        flutterwave: FakeProvider,
    ) -> None:  # fmt: skip
        settings = {**overrides(paystack, flutterwave), "paystack_base_url": _closed_port()}
        async with payments_client(service_client, dsn, **settings) as client:
            intent = (await routed(client)).json()
            assert (intent["status"], intent["provider"]) == ("requires_action", "flutterwave")
            first, _ = await attempts_of(client, intent["id"])
        assert (first["status"], first["error_code"]) == ("failed", "provider_unavailable")
        assert paystack.requests == []

    async def test_a_decline_is_not_retried_elsewhere(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider
    ) -> None:
        intent = (await routed(client)).json()
        assert (intent["status"], intent["provider"]) == ("requires_action", "paystack")
        paystack.complete(intent["id"], paid=False)
        await client.get(f"/webhooks/paystack/return/{intent['id']}", headers=anonymous())
        failed = await get(client, intent["id"])
        assert failed["status"] == "requires_payment_method"
        assert failed["last_payment_error"]["code"] == "card_declined"
        assert flutterwave.requests == []
        [attempt] = await attempts_of(client, intent["id"])
        assert (attempt["status"], attempt["error_code"]) == ("failed", "generic_decline")

    async def test_a_declined_card_on_the_simulator_is_the_answer_and_its_attempt(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await create(
            client, currency="usd", payment_method="pm_card_chargeDeclined", confirm=True
        )
        assert response.status_code == 402
        intent_id = response.json()["error"]["payment_intent"]["id"]
        [attempt] = await attempts_of(client, intent_id)
        assert (attempt["provider"], attempt["status"]) == ("simulator", "failed")
        assert attempt["error_code"] == "generic_decline"

    async def test_every_provider_refusing_answers_the_last_refusal(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider
    ) -> None:
        paystack.refuse_initialize = flutterwave.refuse_initialize = True
        intent = (await routed(client, confirmed=False)).json()
        response = await confirm(client, intent["id"])
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "provider_error"
        assert "Flutterwave" in response.json()["error"]["message"]
        assert (await get(client, intent["id"]))["status"] == "requires_confirmation"
        first, second = await attempts_of(client, intent["id"])
        assert [a["error_code"] for a in (first, second)] == ["provider_error"] * 2
        # Confirmed again once Paystack takes it: the route starts over at its first.
        paystack.refuse_initialize = False
        again = await confirm(client, intent["id"])
        assert (again.json()["provider"], again.json()["status"]) == (
            "paystack", "requires_action",
        )  # fmt: skip
        third = (await attempts_of(client, intent["id"]))[2]
        assert (third["provider_reference"], third["status"]) == (
            f"{intent['id']}-3", "requires_action",
        )  # fmt: skip

    async def test_the_last_provider_failing_leaves_it_processing(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider,
        dsn: str,
    ) -> None:  # fmt: skip
        paystack.fail("initialize", 503)
        flutterwave.lost_answers.add("initialize")
        intent = (await routed(client)).json()
        # No provider after Flutterwave: its lost answer waits for the reconciler, which
        # asks Flutterwave about the current attempt by its own reference.
        assert (intent["status"], intent["provider"]) == ("processing", "flutterwave")
        reference = f"{intent['id']}-2"
        assert reference in flutterwave.charges
        flutterwave.lost_answers.clear()
        flutterwave.complete(reference)
        assert (await reconcile(dsn, paystack, flutterwave))["intent_succeeded"] == 1
        assert (await get(client, intent["id"]))["status"] == "succeeded"
        assert await postings(dsn) == [intent["id"]]
        assert operations(paystack) == ["initialize", "verify"]
        statuses = [a["status"] for a in await attempts_of(client, intent["id"])]
        assert statuses == ["failed", "succeeded"]

    async def test_a_crash_between_attempts_leaves_the_current_one_to_the_reconciler(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider,
        dsn: str,
    ) -> None:  # fmt: skip
        paystack.fail("initialize", 503)
        flutterwave.slow.add("initialize")
        intent = (await routed(client, confirmed=False)).json()
        # The confirm dies while Flutterwave is being asked (attempt 2 claimed, committed).
        confirming = asyncio.create_task(confirm(client, intent["id"]))
        await _until(lambda: "initialize" in operations(flutterwave))
        confirming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await confirming
        left = await get(client, intent["id"])
        assert (left["status"], left["provider"]) == ("processing", "flutterwave")
        # The reconciler asks Flutterwave about attempt 2, by its reference: never there,
        # so the payment failed; Paystack is not asked again, nothing is charged.
        await reconcile(dsn, paystack, flutterwave)
        failed = await get(client, intent["id"])
        assert failed["status"] == "requires_payment_method"
        verified = [path for op, path, _ in flutterwave.requests if op == "verify"]
        assert verified == [f"/v3/transactions/verify_by_reference?tx_ref={intent['id']}-2"]
        assert operations(paystack) == ["initialize", "verify"]
        assert [a["status"] for a in await attempts_of(client, intent["id"])] == [
            "failed",
            "failed",
        ]
        assert await postings(dsn) == []

    async def test_concurrent_confirms_make_one_attempt_chain(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider
    ) -> None:
        paystack.fail("initialize", 503)
        intent = (await routed(client, confirmed=False)).json()
        answers = await asyncio.gather(*(confirm(client, intent["id"]) for _ in range(6)))
        codes = sorted(answer.status_code for answer in answers)
        assert codes == [200] + [400] * 5, [a.text for a in answers]
        refused = [a.json()["error"]["code"] for a in answers if a.status_code == 400]
        assert set(refused) == {"payment_intent_unexpected_state"}
        assert operations(paystack).count("initialize") == 1
        assert operations(flutterwave) == ["initialize"]
        chain = await attempts_of(client, intent["id"])
        assert [(a["number"], a["provider"]) for a in chain] == [
            (1, "paystack"), (2, "flutterwave"),
        ]  # fmt: skip

    async def test_each_attempt_is_announced(
        self, client: httpx.AsyncClient, paystack: FakeProvider, dsn: str
    ) -> None:
        paystack.fail("initialize", 503)
        intent = (await routed(client)).json()
        created = await events_of(dsn, "payment_attempt.created")
        updated = await events_of(dsn, "payment_attempt.updated")
        first, second = await attempts_of(client, intent["id"])
        assert [e["data"]["object"] for e in created] == [
            {**first, "status": "pending", "error_code": None, "error_message": None,
             "updated": created[0]["data"]["object"]["updated"]},
            {**second, "status": "pending",
             "updated": created[1]["data"]["object"]["updated"]},
        ]  # fmt: skip
        assert [(e["data"]["object"]["id"], e["data"]["object"]["status"]) for e in updated] == [
            (first["id"], "failed"),
            (second["id"], "requires_action"),
        ]
        assert {e["tenant_id"] for e in created + updated} == {"ten_providers"}
        assert {e["livemode"] for e in created + updated} == {False}

    async def test_attempts_of_an_unknown_or_anothers_intent_are_not_found(
        self, client: httpx.AsyncClient
    ) -> None:
        intent = (await routed(client)).json()
        other = identity_headers(tenant_id="ten_other")
        for path, headers in (
            (f"{BASE}/{intent['id']}/attempts", other),
            (f"{BASE}/pi_nope/attempts", key()),
            (f"{BASE}/{intent['id']}/attempts", key(livemode=True)),
        ):
            response = await client.get(path, headers=headers)
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "resource_missing"


async def _until(done: Any, *, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not done():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.01)


def _failovers(**labels: str) -> float:
    return REGISTRY.get_sample_value("micro_payments_failovers_total", labels) or 0.0


def _closed_port() -> str:
    """A local address nothing listens on: connections are refused at once."""
    return f"http://127.0.0.1:{free_port()}"
