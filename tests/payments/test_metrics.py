"""Payments' metrics, read from `/metrics` as Prometheus would: intents by the status they
moved to, provider calls by outcome (a Paystack answer lost: a timeout), and the postings
owed to a ledger that is not there."""

from __future__ import annotations

import httpx

from tests.fakes.providers import FakeProvider
from tests.support.metrics import scrape, value
from tests.support.payments import create

INTENTS = "micro_payment_intents_total"
STATUSES = ("requires_confirmation", "processing", "requires_payment_method", "succeeded")


async def intents(client: httpx.AsyncClient, provider: str) -> dict[str, float]:
    return {
        status: await value(client, INTENTS, status=status, provider=provider, mode="test")
        for status in STATUSES
    }


async def test_a_success_and_a_decline_are_counted_by_status(client: httpx.AsyncClient) -> None:
    before = await intents(client, "simulator")
    paid = await create(client, provider="simulator", payment_method="pm_card_visa", confirm=True)
    assert paid.json()["status"] == "succeeded", paid.text
    declined = await create(
        client, provider="simulator", payment_method="pm_card_chargeDeclined", confirm=True
    )
    assert declined.status_code == 402, declined.text
    after = await intents(client, "simulator")
    assert {s: after[s] - before[s] for s in STATUSES} == {
        "requires_confirmation": 2,
        "processing": 0,
        "requires_payment_method": 1,
        "succeeded": 1,
    }
    # The success owes the ledger its posting, and no ledger answers here.
    samples = await scrape(client)
    pending = samples[("micro_ledger_postings_pending", frozenset({("service", "payments")}))]
    assert pending == 1
    oldest = ("micro_ledger_postings_oldest_pending_seconds", frozenset({("service", "payments")}))
    assert samples[oldest] > 0


async def test_a_lost_provider_answer_is_a_timeout(
    client: httpx.AsyncClient, paystack: FakeProvider
) -> None:
    labels = {"provider": "paystack", "operation": "charge"}
    before = await value(client, "micro_provider_requests_total", **labels, outcome="timeout")
    answered = await value(client, "micro_provider_requests_total", **labels, outcome="ok")
    timed = await value(client, "micro_provider_request_duration_seconds_count", **labels)
    moved = await value(client, INTENTS, status="processing", provider="paystack", mode="test")
    paystack.lost_answers.add("initialize")
    intent = (await create(client, provider="paystack", confirm=True)).json()
    assert intent["status"] == "processing"
    assert await value(client, "micro_provider_requests_total", **labels, outcome="timeout") == (
        before + 1
    )
    assert await value(client, "micro_provider_requests_total", **labels, outcome="ok") == answered
    assert await value(client, "micro_provider_request_duration_seconds_count", **labels) == (
        timed + 1
    )
    assert await value(client, INTENTS, status="processing", provider="paystack", mode="test") == (
        moved + 1
    )
