"""Refunds through Paystack and Flutterwave, against local servers speaking their documented
refund APIs and webhooks: pending -> succeeded | failed, the amount held while pending and
freed by a failure, the ledger owed the refund's posting once and only when the provider
confirms, webhooks in any order and twice, the reconciler settling what nobody told us."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import pytest

from tests.conftest import ServiceClient
from tests.fakes.providers import FakeProvider, serve
from tests.support.payments import (
    PAYSTACK_KEY,
    TENANT,
    create,
    fetch,
    key,
    overrides,
    payments_client,
    postings,
    reconcile,
    webhook,
)

REFUNDS = "/payments/refunds"
PROVIDERS = ["paystack", "flutterwave"]


@pytest.fixture(params=PROVIDERS)
def fake(
    request: pytest.FixtureRequest, paystack: FakeProvider, flutterwave: FakeProvider
) -> FakeProvider:
    return paystack if request.param == "paystack" else flutterwave


async def paid(client: httpx.AsyncClient, fake: FakeProvider, amount: int = 5000) -> dict[str, Any]:
    """An intent paid on the provider's hosted page, settled by its webhook."""
    intent: dict[str, Any] = (
        await create(client, provider=fake.kind, confirm=True, amount=amount)
    ).json()
    fake.complete(intent["id"])
    answer = await webhook(client, fake.kind, fake.charge_webhook(intent["id"]))
    assert answer.json()["outcome"] == "succeeded", answer.text
    return intent


async def refund(
    client: httpx.AsyncClient, intent_id: str, headers: dict[str, str] | None = None, **fields: Any
) -> httpx.Response:
    return await client.post(
        REFUNDS, json={"payment_intent": intent_id, **fields}, headers=headers or key()
    )


async def shown(client: httpx.AsyncClient, refund_id: str) -> dict[str, Any]:
    response = await client.get(f"{REFUNDS}/{refund_id}", headers=key())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def types(dsn: str, refund_id: str) -> list[str]:
    rows = await fetch(
        dsn, "SELECT type, payload FROM outbox WHERE type LIKE 'refund.%' ORDER BY seq"
    )
    return [r["type"] for r in rows if refund_id in r["payload"]]


class TestSuccess:
    async def test_processed_at_once_succeeds_and_posts_once(
        self, client: httpx.AsyncClient, fake: FakeProvider, dsn: str
    ) -> None:
        intent = await paid(client, fake)
        fake.refund_status = "processed"
        response = await refund(client, intent["id"], amount=2000)
        assert response.status_code == 200, response.text
        made = response.json()
        assert (made["status"], made["amount"], made["failure_reason"]) == ("succeeded", 2000, None)
        [(_, path, sent)] = [r for r in fake.requests if r[0] == "refund"]
        at = fake.only_refund()
        if fake.kind == "paystack":
            # Subunits, the charge's reference, our refund id in the merchant's note.
            assert path == "/refund"
            assert (sent["transaction"], sent["amount"]) == (intent["id"], 2000)
            assert made["id"] in sent["merchant_note"]
        else:
            # Major units, on the transaction's own id (found by our tx_ref first).
            assert path == f"/v3/transactions/{fake.charges[intent['id']].id}/refund"
            assert str(sent["amount"]) == "20.00"
            assert made["id"] in sent["comments"]
        assert at.amount == 2000
        assert await postings(dsn) == [intent["id"], made["id"]]
        assert await types(dsn, made["id"]) == [
            "refund.created",
            "refund.updated",
            "refund.succeeded",
        ]
        row = (await fetch(dsn, "SELECT * FROM refunds WHERE id = $1", made["id"]))[0]
        assert (row["provider"], row["provider_refund_id"]) == (fake.kind, str(at.id))


class TestPendingThenWebhook:
    async def test_pending_holds_the_amount_then_the_webhook_settles_it_once(
        self, client: httpx.AsyncClient, fake: FakeProvider, dsn: str
    ) -> None:
        intent = await paid(client, fake)
        made = (await refund(client, intent["id"])).json()
        assert made["status"] == "pending"
        # Nothing is owed the ledger before the provider confirms.
        assert await postings(dsn) == [intent["id"]]
        # The whole amount is held: no second refund while it is pending.
        again = await refund(client, intent["id"], amount=1)
        assert again.status_code == 400
        assert again.json()["error"]["code"] == "charge_already_refunded"
        at = fake.settle_refund(fake.only_refund().id, "processed")
        answer = await webhook(client, fake.kind, fake.refund_webhook(at.id))
        assert answer.status_code == 200
        assert answer.json()["outcome"] == "succeeded"
        assert (await shown(client, made["id"]))["status"] == "succeeded"
        assert await postings(dsn) == [intent["id"], made["id"]]
        # The same webhook again changes nothing.
        replay = await webhook(client, fake.kind, fake.refund_webhook(at.id))
        assert replay.json()["outcome"] == "duplicate"
        assert await postings(dsn) == [intent["id"], made["id"]]
        assert await types(dsn, made["id"]) == [
            "refund.created",
            "refund.updated",
            "refund.succeeded",
        ]

    async def test_a_late_pending_after_processed_does_not_go_back(
        self, client: httpx.AsyncClient, paystack: FakeProvider, dsn: str
    ) -> None:
        intent = await paid(client, paystack)
        made = (await refund(client, intent["id"])).json()
        at = paystack.only_refund()
        processed = await webhook(client, "paystack", paystack.refund_webhook(at.id, "processed"))
        assert processed.json()["outcome"] == "succeeded"
        # Paystack's earlier events, delivered late.
        for state in ("pending", "processing", "failed"):
            late = await webhook(client, "paystack", paystack.refund_webhook(at.id, state))
            assert late.json()["outcome"] == "ignored_succeeded", state
        assert (await shown(client, made["id"]))["status"] == "succeeded"
        assert await postings(dsn) == [intent["id"], made["id"]]

    async def test_a_pending_webhook_leaves_it_pending(
        self, client: httpx.AsyncClient, paystack: FakeProvider, dsn: str
    ) -> None:
        intent = await paid(client, paystack)
        made = (await refund(client, intent["id"])).json()
        at = paystack.only_refund()
        pending = await webhook(client, "paystack", paystack.refund_webhook(at.id, "pending"))
        assert pending.json()["outcome"] == "still_pending"
        assert (await shown(client, made["id"]))["status"] == "pending"
        assert await postings(dsn) == [intent["id"]]


class TestFailure:
    async def test_a_failed_refund_frees_its_amount_and_says_why(
        self, client: httpx.AsyncClient, fake: FakeProvider, dsn: str
    ) -> None:
        intent = await paid(client, fake)
        made = (await refund(client, intent["id"])).json()
        at = fake.settle_refund(fake.only_refund().id, "failed")
        answer = await webhook(client, fake.kind, fake.refund_webhook(at.id))
        assert answer.json()["outcome"] == "failed"
        failed = await shown(client, made["id"])
        assert (failed["status"], failed["failure_reason"]) == ("failed", "declined")
        assert await postings(dsn) == [intent["id"]]
        assert await types(dsn, made["id"]) == ["refund.created", "refund.updated", "refund.failed"]
        # Its amount is free for another try.
        retry = await refund(client, intent["id"])
        assert retry.status_code == 200, retry.text
        assert (retry.json()["status"], retry.json()["amount"]) == ("pending", 5000)

    async def test_a_refusal_fails_it_at_once(
        self, client: httpx.AsyncClient, fake: FakeProvider, dsn: str
    ) -> None:
        intent = await paid(client, fake)
        fake.refuse_refunds = True
        response = await refund(client, intent["id"], amount=1000)
        # Stripe answers a refund that failed with the refund (status failed), not an error.
        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["failure_reason"]) == (
            "failed",
            "declined",
        )
        assert await postings(dsn) == [intent["id"]]
        fake.refuse_refunds = False
        assert (await refund(client, intent["id"])).json()["amount"] == 5000

    async def test_an_unreachable_provider_did_nothing(
        self, service_client: ServiceClient, dsn: str, flutterwave: FakeProvider
    ) -> None:
        async with contextlib.AsyncExitStack() as stack:
            gone = await stack.enter_async_context(serve(FakeProvider("paystack", PAYSTACK_KEY)))
            async with payments_client(
                service_client, dsn, **overrides(gone, flutterwave)
            ) as client:
                intent = await paid(client, gone)
                # Paystack's host stops listening: connections to it are refused.
                await stack.aclose()
                response = await refund(client, intent["id"])
                assert response.status_code == 502, response.text
                assert response.json()["error"]["code"] == "provider_unavailable"
                # No pending refund is left behind: it failed, and its amount is free.
                [row] = await fetch(dsn, "SELECT status, failure_reason FROM refunds")
                assert (row["status"], row["failure_reason"]) == ("failed", "unknown")
                assert await postings(dsn) == [intent["id"]]


class TestAmounts:
    async def test_partial_refunds_and_an_over_refund_refused_while_one_is_pending(
        self, client: httpx.AsyncClient, fake: FakeProvider, dsn: str
    ) -> None:
        intent = await paid(client, fake)
        first = (await refund(client, intent["id"], amount=2000)).json()
        assert first["status"] == "pending"
        over = await refund(client, intent["id"], amount=3001)
        assert over.status_code == 400
        assert (over.json()["error"]["code"], over.json()["error"]["param"]) == (
            "amount_too_large",
            "amount",
        )
        second = (await refund(client, intent["id"])).json()
        assert second["amount"] == 3000
        assert len(fake.refunds) == 2

    async def test_concurrent_refunds_without_a_key_take_the_amount_once(
        self, client: httpx.AsyncClient, fake: FakeProvider
    ) -> None:
        intent = await paid(client, fake)
        answers = await asyncio.gather(*(refund(client, intent["id"]) for _ in range(4)))
        assert sorted(a.status_code for a in answers) == [200, 400, 400, 400]
        assert len(fake.refunds) == 1

    async def test_concurrent_duplicates_under_one_key_make_one_refund(
        self, client: httpx.AsyncClient, fake: FakeProvider, dsn: str
    ) -> None:
        intent = await paid(client, fake)
        headers = {**key(), "Idempotency-Key": "refund-once"}
        answers = await asyncio.gather(
            *(refund(client, intent["id"], headers=headers) for _ in range(3))
        )
        made = {a.json()["id"] for a in answers if a.status_code == 200}
        assert len(made) == 1, [a.text for a in answers]
        assert len(fake.refunds) == 1
        assert len(await fetch(dsn, "SELECT id FROM refunds")) == 1

    async def test_another_tenants_payment_is_not_found(
        self, client: httpx.AsyncClient, paystack: FakeProvider
    ) -> None:
        intent = await paid(client, paystack)
        response = await refund(client, intent["id"], headers=key("ten_someone_else"))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "resource_missing"
        assert paystack.refunds == {}


class TestReconciler:
    async def test_a_pending_refund_is_verified_and_settled_once(
        self, client: httpx.AsyncClient, fake: FakeProvider, paystack: FakeProvider,
        flutterwave: FakeProvider, dsn: str,
    ) -> None:  # fmt: skip
        intent = await paid(client, fake)
        made = (await refund(client, intent["id"])).json()
        assert await reconcile(dsn, paystack, flutterwave) == {"refund_still_pending": 1}
        fake.settle_refund(fake.only_refund().id, "processed")
        assert await reconcile(dsn, paystack, flutterwave) == {"refund_succeeded": 1}
        assert (await shown(client, made["id"]))["status"] == "succeeded"
        assert await postings(dsn) == [intent["id"], made["id"]]
        # Done: not asked about again, and its late webhook changes nothing.
        assert await reconcile(dsn, paystack, flutterwave) == {}
        late = await webhook(client, fake.kind, fake.refund_webhook(fake.only_refund().id))
        assert late.json()["outcome"] == "ignored_succeeded"
        assert await postings(dsn) == [intent["id"], made["id"]]

    async def test_a_recent_pending_refund_is_left_alone(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider,
        dsn: str,
    ) -> None:  # fmt: skip
        intent = await paid(client, paystack)
        await refund(client, intent["id"])
        assert await reconcile(dsn, paystack, flutterwave, reconcile_after=3600) == {}

    async def test_two_replicas_apply_it_once(
        self, client: httpx.AsyncClient, fake: FakeProvider, paystack: FakeProvider,
        flutterwave: FakeProvider, dsn: str,
    ) -> None:  # fmt: skip
        intent = await paid(client, fake)
        made = (await refund(client, intent["id"])).json()
        fake.settle_refund(fake.only_refund().id, "failed")
        rounds = await asyncio.gather(
            reconcile(dsn, paystack, flutterwave), reconcile(dsn, paystack, flutterwave)
        )
        assert sum(r.get("refund_failed", 0) for r in rounds) == 1
        assert await types(dsn, made["id"]) == ["refund.created", "refund.updated", "refund.failed"]

    async def test_a_lost_answer_stays_pending_until_its_webhook(
        self, client: httpx.AsyncClient, fake: FakeProvider, paystack: FakeProvider,
        flutterwave: FakeProvider, dsn: str,
    ) -> None:  # fmt: skip
        intent = await paid(client, fake)
        # The provider makes the refund; its answer never arrives in time.
        fake.lost_answers.add("refund")
        made = (await refund(client, intent["id"], amount=1500)).json()
        assert made["status"] == "pending"
        assert len(fake.refunds) == 1
        assert await reconcile(dsn, paystack, flutterwave) == {"refund_still_pending": 1}
        # Its webhook names it by the transaction and amount (Paystack) or our comments
        # (Flutterwave), since Micro never learned the provider's id.
        at = fake.settle_refund(fake.only_refund().id, "processed")
        answer = await webhook(client, fake.kind, fake.refund_webhook(at.id))
        assert answer.json()["outcome"] == "succeeded", answer.text
        assert (await shown(client, made["id"]))["status"] == "succeeded"
        assert await postings(dsn) == [intent["id"], made["id"]]
        # Asked for once: never made a second time.
        assert [op for op, _, _ in fake.requests].count("refund") == 1


class TestTenantAccounts:
    async def test_a_tenants_own_account_refunds_and_only_its_webhooks_settle_it(
        self, service_client: ServiceClient, dsn: str, flutterwave: FakeProvider
    ) -> None:
        tenant_key = "sk_test_tenant_refunds_abcdef123456"
        async with serve(FakeProvider("paystack", tenant_key)) as theirs:
            settings = {**overrides(theirs, flutterwave), "paystack_secret_key": PAYSTACK_KEY}
            async with payments_client(service_client, dsn, **settings) as client:
                stored = await client.put(
                    "/payments/providers/paystack", json={"secret_key": tenant_key}, headers=key()
                )
                assert stored.status_code == 200, stored.text
                intent = (await create(client, provider="paystack", confirm=True)).json()
                theirs.complete(intent["id"])
                tenant = f"/{TENANT}"
                paid_now = await webhook(
                    client, "paystack", theirs.charge_webhook(intent["id"]), tenant
                )
                assert paid_now.json()["outcome"] == "succeeded", paid_now.text
                made = (await refund(client, intent["id"])).json()
                assert made["status"] == "pending"
                at = theirs.settle_refund(theirs.only_refund().id, "processed")
                # Signed by the platform's key, it names a refund of another account.
                forged = theirs.sign(theirs.refund_webhook(at.id)[0], secret=PAYSTACK_KEY)
                ignored = await webhook(client, "paystack", forged)
                assert ignored.json()["outcome"] == "unknown_reference"
                # On the platform's URL with the tenant's signature: not the platform's.
                wrong = await webhook(client, "paystack", theirs.refund_webhook(at.id))
                assert wrong.status_code == 401
                assert (await shown(client, made["id"]))["status"] == "pending"
                settled = await webhook(client, "paystack", theirs.refund_webhook(at.id), tenant)
                assert settled.json()["outcome"] == "succeeded"
                assert await postings(dsn) == [intent["id"], made["id"]]
