"""The payments service killed between its commit and the ledger call: after a restart the
ledger holds the payment exactly once; killed while a provider has a confirm: the reconciler
finishes it. The services run as real processes (`micro serve`)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import asyncpg
import httpx
import pytest

from cli.stack.ports import free_port
from services.payments.service.provider_accounts import ProviderSource
from services.payments.service.reconcile import reconcile_once
from services.payments.settings import PaymentsSettings
from tests.conftest import CreateDb
from tests.fakes.providers import FakeProvider
from tests.fakes.providers import serve as serve_fake
from tests.support.asgi import identity_headers
from tests.support.payments import healthy, output, serve_process
from tests.support.polling import until
from tests.support.secrets import TEST_SECRET_FIELDS

TENANT = "ten_crash"
PAYSTACK_KEY = "sk_test_crash_paystack_0001"


async def count(dsn: str, query: str, *args: object) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(query, *args))
    finally:
        await conn.close()


async def pay_by_card(port: int) -> httpx.Response:
    """One card payment of 42.00, always under the same Idempotency-Key: sent again, it is
    a replay of the first."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        return await http.post(
            "/payments/payment_intents",
            json={"amount": 4200, "currency": "usd", "payment_method": "pm_card_visa",
                  "confirm": True},
            headers={**identity_headers(tenant_id=TENANT), "Idempotency-Key": "crash-1"},
        )  # fmt: skip


async def test_killed_after_commit_the_payment_lands_exactly_once(
    create_db: CreateDb, redis_url: str, tmp_path: Path
) -> None:
    payments_dsn, ledger_dsn = await create_db("payments"), await create_db("ledger")
    payments_port, ledger_port = free_port(), free_port()
    log = tmp_path / "services.log"
    payments_env = {
        "MICRO_REDIS_URL": redis_url,
        "MICRO_PAYMENTS_DATABASE_URL": payments_dsn,
        "MICRO_PAYMENTS_PORT": str(payments_port),
        "MICRO_PAYMENTS_RELAY_INTERVAL": "0.2",
        "MICRO_PAYMENTS_LEDGER_WAIT": "0.5",
        # Nothing listens there yet: the relay cannot post.
        "MICRO_PAYMENTS_LEDGER_URL": f"http://127.0.0.1:{ledger_port}",
    }
    with serve_process("payments", payments_env, log) as payments:
        await healthy(payments_port, payments, log)
        response = await pay_by_card(payments_port)
        assert response.status_code == 200, response.text
        intent = response.json()
        assert intent["status"] == "succeeded"
        # The answer is recorded for its key just after it is sent; let that land, so the
        # retry below is a replay (a kill before it would leave the key claimed a while).
        done = "SELECT count(*) FROM idempotency_keys WHERE key = 'crash-1' AND status = 'done'"
        await until(lambda: count(payments_dsn, done), what="the answer recorded")
        payments.send_signal(signal.SIGKILL)
        payments.wait(10)
    unposted = "SELECT count(*) FROM ledger_outbox WHERE reference_id = $1 AND posted_at IS NULL"
    assert await count(payments_dsn, unposted, intent["id"]) == 1

    ledger_env = {
        "MICRO_REDIS_URL": redis_url,
        "MICRO_LEDGER_DATABASE_URL": ledger_dsn,
        "MICRO_LEDGER_PORT": str(ledger_port),
    }
    with serve_process("ledger", ledger_env, log) as ledger:
        await healthy(ledger_port, ledger, log)
        with serve_process("payments", payments_env, log) as payments:
            await healthy(payments_port, payments, log)
            postings = "SELECT count(*) FROM transactions WHERE reference_id = $1"
            await until(lambda: count(ledger_dsn, postings, intent["id"]), what=lambda: output(log))
            # A few more relay rounds, and a retry of the same request: still one posting.
            again = await pay_by_card(payments_port)
            assert again.json()["id"] == intent["id"]
            await asyncio.sleep(1.0)
            assert await count(ledger_dsn, postings, intent["id"]) == 1
    assert await count(payments_dsn, unposted, intent["id"]) == 0


async def test_killed_while_the_provider_has_the_confirm_the_reconciler_finishes_it(
    create_db: CreateDb, redis_url: str, tmp_path: Path
) -> None:
    """Killed between the claim and its outcome: the intent stays `processing`, the
    reconciler asks the provider about the claimed attempt, and it succeeds exactly once."""
    dsn = await create_db("payments")
    port = free_port()
    log = tmp_path / "payments.log"
    async with serve_fake(FakeProvider("paystack", PAYSTACK_KEY)) as paystack:
        # Paystack takes the transaction, then its answer never comes back in time.
        paystack.lost_answers.add("initialize")
        paystack.delay = 60
        settings = {
            "paystack_base_url": paystack.url,
            "paystack_secret_key": PAYSTACK_KEY,
            "provider_timeout": 60,
            "reconcile_interval": 3600,
            "relay_interval": 3600,
            "ledger_url": f"http://127.0.0.1:{free_port()}",  # nothing listens: no posting
        }
        env = {
            "MICRO_REDIS_URL": redis_url,
            "MICRO_PAYMENTS_DATABASE_URL": dsn,
            "MICRO_PAYMENTS_PORT": str(port),
            **{f"MICRO_PAYMENTS_{name.upper()}": str(v) for name, v in settings.items()},
        }
        headers = identity_headers(tenant_id=TENANT)
        with serve_process("payments", env, log) as payments:
            await healthy(port, payments, log)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                created = await http.post(
                    "/payments/payment_intents",
                    json={"amount": 5000, "currency": "ngn", "provider": "paystack",
                          "receipt_email": "ada@example.com"},
                    headers=headers,
                )  # fmt: skip
                intent_id = created.json()["id"]
                confirm = asyncio.create_task(
                    http.post(f"/payments/payment_intents/{intent_id}/confirm", json={},
                              headers=headers, timeout=120)
                )  # fmt: skip

                async def charged() -> bool:
                    return intent_id in paystack.charges

                await until(charged, what=lambda: output(log))
                payments.send_signal(signal.SIGKILL)
                payments.wait(10)
                with pytest.raises(httpx.HTTPError):
                    await confirm
        claimed = "SELECT count(*) FROM payment_intents WHERE id = $1 AND status = 'processing'"
        assert await count(dsn, claimed + " AND attempts = 1", intent_id) == 1

        paystack.lost_answers.clear()
        paystack.complete(intent_id)  # the customer paid after all
        reconcile_settings = PaymentsSettings.model_validate(
            {"database_url": dsn, **TEST_SECRET_FIELDS, **settings, "reconcile_after": 0}
        )
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        assert pool is not None
        try:
            async with aiohttp.ClientSession() as client:
                source = ProviderSource(reconcile_settings, client)
                first = await reconcile_once(pool, source, reconcile_settings)
                again = await reconcile_once(pool, source, reconcile_settings)
        finally:
            await pool.close()
    # The round owes the ledger the payment's posting (by the intent's id), once.
    assert (dict(first.value), first.owes) == ({"intent_succeeded": 1}, (intent_id,))
    assert (dict(again.value), again.owes) == ({}, ())
    succeeded = "SELECT count(*) FROM payment_intents WHERE id = $1 AND status = 'succeeded'"
    assert await count(dsn, succeeded, intent_id) == 1
    posted = "SELECT count(*) FROM ledger_outbox WHERE reference_id = $1"
    assert await count(dsn, posted, intent_id) == 1
    events = "SELECT count(*) FROM outbox WHERE type = 'payment_intent.succeeded'"
    assert await count(dsn, events) == 1
    assert [op for op, _, _ in paystack.requests].count("initialize") == 1
