"""Paystack and Flutterwave against local servers speaking their documented APIs: success,
decline, timeout-then-verify, amounts in each provider's unit, and payouts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fakes.providers import FakeProvider
from tests.support.payments import (
    BASE,
    anonymous,
    confirm,
    create,
    fetch,
    get,
    get_payout,
    key,
    pay_out,
    postings,
    reconcile,
    webhook,
)


async def processing_at_paystack(
    client: httpx.AsyncClient, paystack: FakeProvider
) -> dict[str, Any]:
    """An intent confirmed while Paystack's answer to `initialize` was lost: Paystack did
    start the transaction, Micro cannot know, so the intent waits in `processing`."""
    paystack.lost_answers.add("initialize")
    intent: dict[str, Any] = (await create(client, provider="paystack", confirm=True)).json()
    assert intent["status"] == "processing"
    return intent


class TestPaystack:
    async def test_confirm_redirects_to_the_hosted_page_then_a_webhook_settles_it(
        self, client: httpx.AsyncClient, paystack: FakeProvider, dsn: str
    ) -> None:
        response = await create(client, provider="paystack", confirm=True)
        assert response.status_code == 200, response.text
        intent = response.json()
        assert intent["status"] == "requires_action"
        url = intent["next_action"]["redirect_to_url"]["url"]
        assert url.startswith(f"{paystack.url}/checkout/")
        [(op, _, sent)] = paystack.requests
        assert op == "initialize"
        # Subunits (kobo), our id as the reference, uppercase currency, a way back.
        assert sent["amount"] == 5000
        assert (sent["reference"], sent["currency"]) == (intent["id"], "NGN")
        assert sent["email"] == "ada@example.com"
        assert sent["callback_url"].endswith(f"/webhooks/paystack/return/{intent['id']}")
        paystack.complete(intent["id"])
        answer = await webhook(client, "paystack", paystack.charge_webhook(intent["id"]))
        assert answer.status_code == 200
        assert answer.json()["outcome"] == "succeeded"
        settled = await get(client, intent["id"])
        assert (settled["status"], settled["amount_received"]) == ("succeeded", 5000)
        assert await postings(dsn) == [intent["id"]]

    async def test_a_decline_found_on_return_leaves_it_retryable(
        self, client: httpx.AsyncClient, paystack: FakeProvider
    ) -> None:
        intent = (await create(client, provider="paystack", confirm=True)).json()
        paystack.complete(intent["id"], paid=False)
        page = await client.get(f"/webhooks/paystack/return/{intent['id']}", headers=anonymous())
        assert page.status_code == 200
        assert "requires_payment_method" in page.text
        failed = await get(client, intent["id"])
        assert failed["status"] == "requires_payment_method"
        assert failed["last_payment_error"]["code"] == "card_declined"

    async def test_a_retry_after_a_decline_is_a_new_attempt_with_its_own_reference(
        self, client: httpx.AsyncClient, paystack: FakeProvider, dsn: str
    ) -> None:
        intent = (await create(client, provider="paystack", confirm=True)).json()
        paystack.complete(intent["id"], paid=False)
        await client.get(f"/webhooks/paystack/return/{intent['id']}", headers=anonymous())
        assert (await get(client, intent["id"]))["status"] == "requires_payment_method"
        # Paystack never takes a reference twice: the second attempt has its own.
        retried = await confirm(client, intent["id"])
        assert retried.json()["status"] == "requires_action", retried.text
        second = f"{intent['id']}-2"
        assert paystack.requests[-1][2]["reference"] == second
        # The first attempt's failure, delivered late, must not fail the second one.
        late = await webhook(client, "paystack", paystack.charge_webhook(intent["id"]))
        assert late.json()["outcome"] == "ignored_old_attempt"
        assert (await get(client, intent["id"]))["status"] == "requires_action"
        paystack.complete(second)
        paid = await webhook(client, "paystack", paystack.charge_webhook(second))
        assert paid.json()["outcome"] == "succeeded"
        assert await postings(dsn) == [intent["id"]]

    async def test_a_lost_answer_leaves_it_processing_until_verified(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider,
        dsn: str,
    ) -> None:  # fmt: skip
        intent = await processing_at_paystack(client, paystack)
        assert await postings(dsn) == []
        # The provider did start it; the customer paid; reconciliation finds out.
        paystack.complete(intent["id"])
        assert (await reconcile(dsn, paystack, flutterwave))["intent_succeeded"] == 1
        assert (await get(client, intent["id"]))["status"] == "succeeded"
        assert await postings(dsn) == [intent["id"]]
        # Asked again: nothing more happens, and it was never initialized twice.
        await reconcile(dsn, paystack, flutterwave)
        assert await postings(dsn) == [intent["id"]]
        assert [op for op, _, _ in paystack.requests].count("initialize") == 1

    async def test_a_refused_request_changes_nothing(
        self, client: httpx.AsyncClient, paystack: FakeProvider
    ) -> None:
        paystack.refuse_initialize = True
        intent = (await create(client, provider="paystack")).json()
        response = await confirm(client, intent["id"])
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "provider_error"
        assert (await get(client, intent["id"]))["status"] == "requires_confirmation"

    async def test_an_email_is_required(self, client: httpx.AsyncClient) -> None:
        response = await create(client, provider="paystack", confirm=True, receipt_email=None)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "receipt_email"

    @pytest.mark.parametrize(
        ("fields", "param"),
        [
            ({"payment_method": "pm_card_visa"}, "payment_method"),
            ({"capture_method": "manual"}, "capture_method"),
            ({"provider": "stripe"}, "provider"),
            ({"return_url": "javascript:alert(1)"}, "return_url"),
        ],
    )
    async def test_bad_input(
        self, client: httpx.AsyncClient, fields: dict[str, Any], param: str
    ) -> None:
        response = await create(client, **{"provider": "paystack", **fields})
        assert response.status_code == 400
        assert response.json()["error"]["param"] == param
        assert (await client.get(BASE, headers=key())).json()["data"] == []

    async def test_form_encoded(self, client: httpx.AsyncClient, paystack: FakeProvider) -> None:
        response = await client.post(
            BASE,
            content=b"amount=250000&currency=ngn&provider=paystack&confirm=true"
            b"&receipt_email=ada%40example.com&metadata[order]=9",
            headers={**key(), "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "requires_action"
        assert paystack.requests[0][2]["amount"] == 250000

    async def test_payout_pending_then_paid_by_webhook_then_reversed(
        self, client: httpx.AsyncClient, paystack: FakeProvider, dsn: str
    ) -> None:
        paystack.transfer_status = "pending"
        response = await pay_out(client, "paystack", 2500)
        payout = response.json()
        assert payout["status"] == "pending", response.text
        ops = [op for op, _, _ in paystack.requests]
        assert ops == ["recipient", "transfer"]
        assert paystack.requests[1][2]["reference"] == payout["id"]
        assert paystack.requests[1][2]["amount"] == 2500
        assert await postings(dsn) == []
        paystack.settle_transfer(payout["id"], "success")
        answer = await webhook(client, "paystack", paystack.transfer_webhook(payout["id"]))
        assert answer.json()["outcome"] == "paid"
        assert await postings(dsn) == [payout["id"]]
        reversed_ = await webhook(
            client, "paystack", paystack.transfer_webhook(payout["id"], "reversed")
        )
        assert reversed_.json()["outcome"] == "reversed"
        shown = await get_payout(client, payout["id"])
        assert (shown["status"], shown["failure_code"]) == ("failed", "reversed")
        assert await postings(dsn) == [payout["id"], f"{payout['id']}.reversal"]

    async def test_payout_timeout_then_verified_by_reconciliation(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider,
        dsn: str,
    ) -> None:  # fmt: skip
        paystack.lost_answers.add("transfer")
        payout = (await pay_out(client, "paystack", 900)).json()
        assert payout["status"] == "pending"
        paystack.lost_answers.clear()
        assert (await reconcile(dsn, paystack, flutterwave))["payout_paid"] == 1
        shown = await get_payout(client, payout["id"])
        assert shown["status"] == "paid"
        assert await postings(dsn) == [payout["id"]]


class TestFlutterwave:
    @pytest.mark.parametrize(
        ("amount", "currency", "major"),
        [(5000, "usd", "50.00"), (5000, "jpy", "5000"), (1234, "kwd", "1.234"),
         (250000, "ngn", "2500.00")],
    )  # fmt: skip
    async def test_amounts_go_in_major_units(
        self, client: httpx.AsyncClient, flutterwave: FakeProvider, dsn: str,
        amount: int, currency: str, major: str,
    ) -> None:  # fmt: skip
        response = await create(
            client, provider="flutterwave", confirm=True, amount=amount, currency=currency
        )
        intent = response.json()
        assert intent["status"] == "requires_action", response.text
        sent = flutterwave.requests[0][2]
        assert (sent["tx_ref"], sent["amount"], sent["currency"]) == (
            intent["id"], major, currency.upper()
        )  # fmt: skip
        assert sent["customer"]["email"] == "ada@example.com"
        assert intent["next_action"]["redirect_to_url"]["url"].startswith(flutterwave.url)
        flutterwave.complete(intent["id"])
        answer = await webhook(client, "flutterwave", flutterwave.charge_webhook(intent["id"]))
        assert answer.json()["outcome"] == "succeeded"
        assert (await get(client, intent["id"]))["amount_received"] == amount

    async def test_a_failure_then_a_success_lands_and_a_late_failure_does_not_undo_it(
        self, client: httpx.AsyncClient, flutterwave: FakeProvider, dsn: str
    ) -> None:
        intent = (await create(client, provider="flutterwave", confirm=True)).json()
        flutterwave.complete(intent["id"], paid=False)
        failure = flutterwave.charge_webhook(intent["id"])
        assert (await webhook(client, "flutterwave", failure)).json()["outcome"] == (
            "payment_failed"
        )
        assert (await get(client, intent["id"]))["status"] == "requires_payment_method"
        # The customer tried another card on the same page: success for the same reference.
        charge = flutterwave.complete(intent["id"])
        charge.id += 1  # a new attempt has its own id at Flutterwave
        success = flutterwave.charge_webhook(intent["id"])
        assert (await webhook(client, "flutterwave", success)).json()["outcome"] == "succeeded"
        # The first failure delivered again, late: a duplicate; a fresh failure: ignored.
        assert (await webhook(client, "flutterwave", failure)).json()["outcome"] == "duplicate"
        charge.status, charge.id = "failed", charge.id + 1
        late = flutterwave.charge_webhook(intent["id"])
        assert (await webhook(client, "flutterwave", late)).json()["outcome"] == (
            "ignored_succeeded"
        )
        assert (await get(client, intent["id"]))["status"] == "succeeded"
        assert await postings(dsn) == [intent["id"]]

    async def test_a_wrong_amount_is_never_counted(
        self, client: httpx.AsyncClient, flutterwave: FakeProvider, dsn: str
    ) -> None:
        intent = (await create(client, provider="flutterwave", confirm=True)).json()
        flutterwave.complete(intent["id"])
        cheap = flutterwave.charge_webhook(intent["id"], amount=100)
        assert (await webhook(client, "flutterwave", cheap)).json()["outcome"] == (
            "amount_mismatch"
        )
        assert (await get(client, intent["id"]))["status"] == "requires_action"
        assert await postings(dsn) == []

    async def test_timeout_then_verify_finds_it_never_started(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider,
        dsn: str,
    ) -> None:  # fmt: skip
        flutterwave.slow.add("initialize")
        intent = (await create(client, provider="flutterwave", confirm=True)).json()
        assert intent["status"] == "processing"
        # It never reached Flutterwave's books: the verify says so, and it can be retried.
        assert (await reconcile(dsn, paystack, flutterwave))["intent_payment_failed"] == 1
        failed = await get(client, intent["id"])
        assert failed["status"] == "requires_payment_method"
        assert failed["last_payment_error"]["decline_code"] == "processing_error"
        flutterwave.slow.clear()
        retried = await confirm(client, intent["id"])
        assert retried.json()["status"] == "requires_action"

    async def test_payouts_in_major_units_and_failed_by_webhook(
        self, client: httpx.AsyncClient, flutterwave: FakeProvider, dsn: str
    ) -> None:
        flutterwave.transfer_status = "pending"
        payout = (await pay_out(client, "flutterwave", 2550)).json()
        assert payout["status"] == "pending"
        sent = flutterwave.requests[0][2]
        assert (sent["amount"], sent["reference"], sent["account_bank"]) == (
            "25.50", payout["id"], "058"
        )  # fmt: skip
        flutterwave.settle_transfer(payout["id"], "FAILED")
        answer = await webhook(client, "flutterwave", flutterwave.transfer_webhook(payout["id"]))
        assert answer.json()["outcome"] == "failed"
        # Nothing was ever posted for it, so nothing needs undoing.
        assert await postings(dsn) == []


class TestReconciliation:
    async def test_abandoned_intents_are_canceled_and_finished_ones_kept(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider,
        dsn: str,
    ) -> None:  # fmt: skip
        waiting = (await create(client, currency="usd")).json()
        redirected = (await create(client, provider="paystack", confirm=True)).json()
        paid = (
            await create(client, currency="usd", payment_method="pm_card_visa", confirm=True)
        ).json()
        # Not old enough yet: nothing happens.
        done = await reconcile(dsn, paystack, flutterwave, abandon_after=3600)
        assert "intent_abandoned" not in done
        done = await reconcile(dsn, paystack, flutterwave, abandon_after=0)
        assert done["intent_abandoned"] == 2
        for intent in (waiting, redirected):
            shown = await get(client, intent["id"])
            assert (shown["status"], shown["cancellation_reason"]) == ("canceled", "abandoned")
        assert (await get(client, paid["id"]))["status"] == "succeeded"
        types = [
            r["type"]
            for r in await fetch(dsn, "SELECT type FROM outbox WHERE type LIKE '%canceled'")
        ]
        assert types == ["payment_intent.canceled"] * 2

    async def test_a_provider_that_stays_silent_changes_nothing(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider,
        dsn: str,
    ) -> None:  # fmt: skip
        intent = (await create(client, provider="paystack", confirm=True)).json()
        paystack.slow.add("verify")
        done = await reconcile(dsn, paystack, flutterwave)
        assert done == {"intent_still_pending": 1}
        assert (await get(client, intent["id"]))["status"] == "requires_action"

    async def test_processing_with_no_payment_at_the_provider_is_abandoned_in_the_end(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider,
        dsn: str,
    ) -> None:  # fmt: skip
        intent = await processing_at_paystack(client, paystack)
        # Paystack has the transaction, but nobody ever paid it.
        assert await reconcile(dsn, paystack, flutterwave, abandon_after=3600) == {
            "intent_still_pending": 1
        }
        assert await reconcile(dsn, paystack, flutterwave, abandon_after=0) == {
            "intent_abandoned": 1
        }
        shown = await get(client, intent["id"])
        assert (shown["status"], shown["cancellation_reason"]) == ("canceled", "abandoned")
