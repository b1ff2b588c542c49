"""No network call inside a database transaction (issue 11, point 4): a confirm or payout
claims its object and commits, calls the provider with no connection held, then applies the
answer in a second transaction. Slow providers stall nothing else; a webhook that lands
during the call wins; a call cut off half way is finished by the reconciler."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx
import pytest

from cli.stack.ports import free_port
from services.payments.providers.http import ProviderClient
from services.payments.providers.paystack import Paystack
from shared.db import TransactionHeldError, create_pool, transaction
from tests.conftest import ServiceClient
from tests.fakes.providers import FakeProvider
from tests.support.payments import (
    BANK,
    BASE,
    PAYSTACK_KEY,
    create,
    fetch,
    get,
    healthy,
    key,
    overrides,
    payments_client,
    postings,
    reconcile,
    serve_process,
    webhook,
)
from tests.support.polling import until

# The provider's answer takes this long; everything else must not wait on it.
DELAY = 2.0
# How long the slow provider's gate stays shut once every call is waiting at it.
HOLD = 2.0
CONFIRMS = 60
# The longest a connection may sit idle inside a transaction (the bound).
IDLE_IN_TRANSACTION_LIMIT = 0.1


def settings(paystack: FakeProvider, flutterwave: FakeProvider) -> dict[str, Any]:
    return {
        **overrides(paystack, flutterwave),
        # Patient enough for the slow provider below (it answers, late, every time).
        "provider_timeout": 10 * DELAY,
        # Nothing listens there: the relay fails at once instead of holding its transaction.
        "ledger_url": f"http://127.0.0.1:{free_port()}",
    }


@pytest.fixture
async def client(
    service_client: ServiceClient, dsn: str, paystack: FakeProvider, flutterwave: FakeProvider
) -> AsyncIterator[httpx.AsyncClient]:
    async with payments_client(service_client, dsn, **settings(paystack, flutterwave)) as http:
        yield http


class IdleInTransaction:
    """Samples `pg_stat_activity` of one database every 20 ms over a connection of its own,
    keeping the longest time any other connection sat `idle in transaction`. It runs in a
    thread with its own event loop, so the test's load does not delay it, and it keeps how
    late its own wake-ups came: what the machine itself delays every process by."""

    PERIOD = 0.02

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.longest = timedelta(0)
        self.worst = ""  # the statement that connection had last run, for the record
        self.samples = 0
        self.late = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._sample()))

    def __enter__(self) -> IdleInTransaction:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    async def _sample(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            while not self._stop.is_set():
                ages = await conn.fetch(
                    "SELECT clock_timestamp() - state_change AS age, query FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND state LIKE 'idle in transaction%'"
                )
                self.samples += 1
                for row in ages:
                    if row["age"] > self.longest:
                        self.longest, self.worst = row["age"], row["query"]
                asleep = time.monotonic()
                await asyncio.sleep(self.PERIOD)
                self.late = max(self.late, time.monotonic() - asleep - self.PERIOD)
        finally:
            await conn.close()


async def timed(request: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await request
    return response, time.monotonic() - started


async def succeeded_events(dsn: str) -> list[str]:
    rows = await fetch(
        dsn,
        "SELECT payload::jsonb -> 'data' -> 'object' ->> 'id' AS id FROM outbox "
        "WHERE type = 'payment_intent.succeeded'",
    )
    return sorted(r["id"] for r in rows)


@pytest.fixture
async def served(
    dsn: str, redis_url: str, paystack: FakeProvider, flutterwave: FakeProvider, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The payments service as a real process (`micro serve`), so that its event loop does
    its own work only: the load below, the fake provider and the sampler run here."""
    port = free_port()
    env = {
        "MICRO_REDIS_URL": redis_url,
        "MICRO_PAYMENTS_DATABASE_URL": dsn,
        "MICRO_PAYMENTS_PORT": str(port),
        **{
            f"MICRO_PAYMENTS_{name.upper()}": str(value)
            for name, value in settings(paystack, flutterwave).items()
        },
    }
    log = tmp_path / "payments.log"
    with serve_process("payments", env, log) as process:
        await healthy(port, process, log)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            yield http


# The objects' events, not an attempt's own (payment_attempt.*: tests/payments/test_failover.py).
INTENT_EVENTS = "SELECT type FROM outbox WHERE type NOT LIKE 'payment_attempt.%' ORDER BY seq"


class TestSlowProvider:
    async def test_sixty_slow_confirms_stall_nothing_and_each_succeeds_once(
        self, served: httpx.AsyncClient, paystack: FakeProvider, dsn: str
    ) -> None:
        client = served
        # Paid before the rush: their webhooks arrive while the confirms wait on Paystack.
        earlier = [(await create(client, provider="paystack", confirm=True)).json()["id"]
                   for _ in range(5)]  # fmt: skip
        for reference in earlier:
            paystack.complete(reference)
        intents = [(await create(client, provider="paystack")).json()["id"]
                   for _ in range(CONFIRMS)]  # fmt: skip
        # Paid on the hosted page while our confirm still waits for Paystack's answer.
        raced = intents[:5]
        watched = intents[len(raced) :: 6]
        # Paystack answers no call until the gate opens: the confirms wait on it for as long
        # as the checks below take, on a quiet machine or a loaded one.
        paystack.gate = asyncio.Event()

        with IdleInTransaction(dsn) as sampler:
            confirms = [
                asyncio.create_task(
                    client.post(f"{BASE}/{intent_id}/confirm", json={}, headers=key())
                )
                for intent_id in intents
            ]
            # All sixty at Paystack at once, three times the pool's 20 connections (the
            # service's default pool_max_size): made inside transactions, the calls would hold
            # every connection and the other forty would queue for one, never reaching
            # Paystack while the gate is shut.
            await until(
                lambda: len(paystack.charges) == len(earlier) + CONFIRMS,
                what=lambda: f"{len(paystack.charges) - len(earlier)} confirms at Paystack",
            )
            for reference in raced:
                paystack.complete(reference)
            # Every claim committed (each also records its attempt and that attempt's event),
            # so the watched ones' retrieves can only find them `processing`.
            probes = await asyncio.gather(
                *(timed(client.get(f"{BASE}/{i}", headers=key())) for i in watched),
                *(timed(client.get(f"{BASE}?limit=10", headers=key())) for _ in range(5)),
                *(timed(webhook(client, "paystack", paystack.charge_webhook(reference)))
                  for reference in earlier + raced),
            )  # fmt: skip
            # Retrieves, lists and webhooks all answered while every call waited at Paystack:
            # none of them queued behind one.
            in_flight = sum(not task.done() for task in confirms)
            # The calls wait on a while longer, so that one made inside a transaction would
            # show there as a connection idle for all that time.
            await asyncio.sleep(HOLD)
            paystack.gate.set()
            answers = await asyncio.gather(*confirms)

        assert in_flight == CONFIRMS
        assert all(response.status_code == 200 for response, _ in probes)
        retrieved = [response.json() for response, _ in probes[: len(watched)]]
        assert {intent["status"] for intent in retrieved} == {"processing"}
        outcomes = [response.json()["outcome"] for response, _ in probes[-10:]]
        assert outcomes == ["succeeded"] * 10
        # Never a connection idle inside a transaction for long: nothing waits in one.
        assert sampler.samples >= 25
        # (On a machine so busy that a plain retrieve takes longer than that, or the
        # sampler itself wakes up later, every statement waits as long for its turn: the
        # bound is then that, never above a quarter of the hold. A provider call inside a
        # transaction would hold one for the whole hold.)
        busy = max(sampler.late, *(elapsed for _, elapsed in probes[: len(watched)]))
        limit = min(max(IDLE_IN_TRANSACTION_LIMIT, busy), HOLD / 4)
        assert sampler.longest < timedelta(seconds=limit), (
            f"idle in transaction for {sampler.longest} (bound {limit:.3f}s) after: {sampler.worst}"
        )

        # The confirms' late answers: a redirect, except where the webhook already settled
        # the attempt, which the answer neither repeats nor undoes.
        assert all(answer.status_code == 200 for answer in answers)
        statuses = [answer.json()["status"] for answer in answers]
        # The raced ones' webhooks were handled before Paystack answered their calls.
        assert statuses[: len(raced)] == ["succeeded"] * len(raced), statuses
        assert statuses[len(raced) :] == ["requires_action"] * (CONFIRMS - len(raced))
        for reference in intents[len(raced) :]:
            paystack.complete(reference)
        finals = [
            (await webhook(client, "paystack", paystack.charge_webhook(reference))).json()
            for reference in intents  # the raced ones a second time: a replay changes nothing
        ]
        assert [final["outcome"] for final in finals] == ["duplicate"] * len(raced) + [
            "succeeded"
        ] * (CONFIRMS - len(raced))
        shown = [await get(client, intent_id) for intent_id in intents]
        assert {(i["status"], i["amount_received"]) for i in shown} == {("succeeded", 5000)}
        everyone = sorted(earlier + intents)
        assert sorted(await postings(dsn)) == everyone
        assert await succeeded_events(dsn) == everyone
        initialized = [sent["reference"] for op, _, sent in paystack.requests if op == "initialize"]
        assert sorted(initialized) == everyone


class TestGuard:
    async def test_a_provider_called_inside_a_transaction_is_refused(
        self, paystack: FakeProvider, dsn: str
    ) -> None:
        pool = await create_pool(dsn, application_name="test", min_size=1, max_size=1)
        try:
            async with aiohttp.ClientSession() as http:
                provider = Paystack(
                    ProviderClient(
                        http, base_url=paystack.url, timeout=5, name="Paystack",
                        headers={"Authorization": f"Bearer {PAYSTACK_KEY}"},
                    )
                )  # fmt: skip
                async with transaction(pool):
                    with pytest.raises(TransactionHeldError, match="Paystack GET /transaction"):
                        await provider.verify(reference="pi_guarded", amount=1, currency="ngn")
                assert paystack.requests == []  # refused before anything was sent
                # Committed, the same call goes out.
                outcome = await provider.verify(reference="pi_guarded", amount=1, currency="ngn")
                assert outcome.decline_code == "processing_error"
                assert [op for op, _, _ in paystack.requests] == ["verify"]
        finally:
            await pool.close()


class TestLateAnswers:
    async def test_an_answer_to_an_attempt_settled_meanwhile_is_not_applied(
        self, client: httpx.AsyncClient, paystack: FakeProvider, dsn: str
    ) -> None:
        intent_id = (await create(client, provider="paystack")).json()["id"]
        paystack.latency = DELAY
        confirm = f"{BASE}/{intent_id}/confirm"
        first = asyncio.create_task(client.post(confirm, json={}, headers=key()))
        await until(lambda: intent_id in paystack.charges)
        # The first attempt fails on the hosted page while our call still waits ...
        paystack.complete(intent_id, paid=False)
        failed = await webhook(client, "paystack", paystack.charge_webhook(intent_id))
        assert failed.json()["outcome"] == "payment_failed"
        # ... and the customer tries again before the first answer is back.
        second = asyncio.create_task(client.post(confirm, json={}, headers=key()))
        await until(lambda: f"{intent_id}-2" in paystack.charges)
        late = await first
        # The first attempt's redirect lands on an intent that has moved on: shown, not applied.
        assert (late.status_code, late.json()["status"]) == (200, "processing")
        answered = (await second).json()
        assert answered["status"] == "requires_action"
        assert answered["next_action"]["redirect_to_url"]["url"].endswith(f"{intent_id[-6:]}-2")
        types = [r["type"] for r in await fetch(dsn, INTENT_EVENTS)]
        assert types == [
            "payment_intent.created",
            "payment_intent.payment_failed",
            "payment_intent.requires_action",
        ]


class TestCutOff:
    """The request dies while the provider has it (here: cancelled, as when its process is
    killed; `tests/payments/test_crash.py` kills a real one): the claim stays, and the reconciler
    asks the provider by the claim's reference."""

    async def test_a_confirm_cut_off_during_the_call_is_finished_by_the_reconciler(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider,
        dsn: str,
    ) -> None:  # fmt: skip
        intent_id = (await create(client, provider="paystack")).json()["id"]
        paystack.lost_answers.add("initialize")
        paystack.delay = 60
        confirm = asyncio.create_task(
            client.post(f"{BASE}/{intent_id}/confirm", json={}, headers=key())
        )
        await until(lambda: intent_id in paystack.charges)
        confirm.cancel()
        with pytest.raises(asyncio.CancelledError):
            await confirm
        claimed = await get(client, intent_id)
        assert claimed["status"] == "processing"
        [row] = await fetch(dsn, "SELECT attempts FROM payment_intents WHERE id = $1", intent_id)
        assert row["attempts"] == 1
        paystack.lost_answers.clear()
        paystack.complete(intent_id)  # the customer reached the page some other way and paid
        done = await reconcile(dsn, paystack, flutterwave, **settings(paystack, flutterwave))
        assert done == {"intent_succeeded": 1}
        assert (await get(client, intent_id))["status"] == "succeeded"
        await reconcile(dsn, paystack, flutterwave, **settings(paystack, flutterwave))
        answer = await webhook(client, "paystack", paystack.charge_webhook(intent_id))
        assert answer.json()["outcome"] == "ignored_succeeded"
        assert await postings(dsn) == [intent_id]
        assert await succeeded_events(dsn) == [intent_id]

    async def test_a_payout_cut_off_during_the_transfer_is_finished_by_the_reconciler(
        self, client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider,
        dsn: str,
    ) -> None:  # fmt: skip
        paystack.lost_answers.add("transfer")
        paystack.delay = 60
        body = {"amount": 700, "currency": "ngn", "destination": BANK, "provider": "paystack"}
        payout = asyncio.create_task(client.post("/payments/payouts", json=body, headers=key()))
        await until(lambda: bool(paystack.transfers))
        payout.cancel()
        with pytest.raises(asyncio.CancelledError):
            await payout
        [payout_id] = paystack.transfers
        listed = (await client.get("/payments/payouts", headers=key())).json()["data"]
        assert [(p["id"], p["status"]) for p in listed] == [(payout_id, "pending")]
        paystack.lost_answers.clear()
        done = await reconcile(dsn, paystack, flutterwave, **settings(paystack, flutterwave))
        assert done == {"payout_paid": 1}
        await reconcile(dsn, paystack, flutterwave, **settings(paystack, flutterwave))
        shown = (await client.get(f"/payments/payouts/{payout_id}", headers=key())).json()
        assert shown["status"] == "paid"
        assert await postings(dsn) == [payout_id]


class TestNothingHappened:
    """A provider that cannot be reached: the request answers as before, and the claim is
    let go (the intent back where it was, the payout failed with the reason)."""

    @pytest.fixture
    async def unreachable(
        self, service_client: ServiceClient, dsn: str, paystack: FakeProvider,
        flutterwave: FakeProvider,
    ) -> AsyncIterator[httpx.AsyncClient]:  # fmt: skip
        dead = f"http://127.0.0.1:{free_port()}"
        async with payments_client(
            service_client, dsn,
            **{**settings(paystack, flutterwave), "paystack_base_url": dead},
        ) as http:  # fmt: skip
            yield http

    async def test_a_confirm_goes_back_to_where_it_was(
        self, unreachable: httpx.AsyncClient, dsn: str
    ) -> None:
        intent_id = (await create(unreachable, provider="paystack")).json()["id"]
        response = await unreachable.post(f"{BASE}/{intent_id}/confirm", json={}, headers=key())
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "provider_unavailable"
        assert (await get(unreachable, intent_id))["status"] == "requires_confirmation"
        types = [r["type"] for r in await fetch(dsn, INTENT_EVENTS)]
        assert types == ["payment_intent.created"]

    async def test_a_payout_fails_with_the_reason(
        self, unreachable: httpx.AsyncClient, dsn: str
    ) -> None:
        body = {"amount": 700, "currency": "ngn", "destination": BANK, "provider": "paystack"}
        response = await unreachable.post("/payments/payouts", json=body, headers=key())
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "provider_unavailable"
        [payout] = (await unreachable.get("/payments/payouts", headers=key())).json()["data"]
        assert (payout["status"], payout["failure_code"]) == ("failed", "provider_unavailable")
        types = [r["type"] for r in await fetch(dsn, INTENT_EVENTS)]
        assert types == ["payout.created", "payout.failed"]
        assert await postings(dsn) == []
