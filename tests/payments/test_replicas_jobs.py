"""Payments' background work with two replicas running at once as real processes on one
database: the ledger relay (every posting reaches the ledger once, also when the replica
holding a claim is killed mid-call) and the reconciler (both ask the provider, each
payment and each provider refund succeeds once). docs/architecture.md, "Background jobs
and replicas"."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx

from cli.stack.ports import free_port
from services.payments.repository import outbox as outbox_repo
from shared.ids import new_id
from shared.ledger_contract import Posting, balance_code, clearing_code
from tests.conftest import CreateDb
from tests.fakes.providers import FakeProvider
from tests.support.payments import PAYSTACK_KEY, TENANT, create, key
from tests.support.polling import until
from tests.support.replicas import (
    Replica,
    logs,
    paused,
    replicas,
    service_env,
    value,
)
from tests.support.servers import owner_dsn


async def owe_postings(dsn: str, count: int, *, prefix: str) -> list[str]:
    """`count` postings in the outbox, as confirmed payments leave them."""
    references = [f"{prefix}_{n}_{new_id('pi')}" for n in range(count)]
    conn = await asyncpg.connect(owner_dsn(dsn))
    try:
        for reference in references:
            posting = Posting(
                reference_id=reference,
                description=f"Payment {reference}",
                metadata={"payment_intent": reference},
                debit=clearing_code("usd"),
                credit=balance_code("usd"),
                amount=700,
                currency="usd",
            )
            await outbox_repo.insert_outbox(
                conn,
                outbox_id=new_id("obx"),
                tenant_id=TENANT,
                livemode=False,
                reference_id=reference,
                body=posting.body(),
                currency="usd",
            )
    finally:
        await conn.close()
    return references


@contextmanager
def ledger_and_payments(
    payments_dsn: str, ledger_dsn: str, redis_url: str, log_dir: Path
) -> Iterator[tuple[Replica, list[Replica]]]:
    """One ledger; two payments replicas relaying to it, each call allowed two seconds (the
    claim's lease) and made once per round."""
    ledger_env = service_env("ledger", dsn=ledger_dsn, redis_url=redis_url)
    with replicas("ledger", ledger_env, log_dir, count=1) as (ledger,):
        env = service_env(
            "payments",
            dsn=payments_dsn,
            redis_url=redis_url,
            settings={
                "ledger_url": ledger.url,
                "relay_interval": 0.1,
                "internal_timeout": 2,
                "internal_attempts": 1,
            },
        )
        with replicas("payments", env, log_dir) as pair:
            yield ledger, pair


async def posted_once(ledger_dsn: str, payments_dsn: str, references: list[str]) -> None:
    """Every reference is one ledger transaction and its outbox row is marked posted."""
    counts = await value(
        ledger_dsn,
        "SELECT array_agg(n) FROM (SELECT count(*) AS n FROM transactions "
        "WHERE reference_id = ANY($1::text[]) GROUP BY reference_id) c",
        references,
    )
    assert isinstance(counts, list)
    assert sorted(counts) == [1] * len(references)
    unposted = await value(
        payments_dsn, "SELECT count(*) FROM ledger_outbox WHERE posted_at IS NULL"
    )
    assert unposted == 0


async def test_two_relays_post_every_posting_once_and_a_killed_ones_claim_is_taken_over(
    create_db: CreateDb, redis_url: str, tmp_path: Path
) -> None:
    payments_dsn, ledger_dsn = await create_db("payments"), await create_db("ledger")
    with ledger_and_payments(payments_dsn, ledger_dsn, redis_url, tmp_path) as (ledger, pair):
        first = await owe_postings(payments_dsn, 40, prefix="both")

        async def relayed(references: list[str]) -> bool:
            done = await value(
                ledger_dsn,
                "SELECT count(*) FROM transactions WHERE reference_id = ANY($1::text[])",
                references,
            )
            return done == len(references)

        await until(lambda: relayed(first), what=lambda: logs(ledger, *pair))
        await posted_once(ledger_dsn, payments_dsn, first)

        # The ledger stops answering: each relay claims one row and sits in its call.
        with paused(ledger.process):
            second = await owe_postings(payments_dsn, 10, prefix="killed")

            async def both_hold_a_claim() -> bool:
                held = await value(
                    payments_dsn,
                    "SELECT count(*) FROM ledger_outbox WHERE posted_at IS NULL "
                    "AND next_attempt > now() AND attempts = 0",
                )
                return held == 2

            await until(both_hold_a_claim, what=lambda: logs(*pair))
            pair[0].kill()
        # The survivor posts the rest, and the killed one's row once its claim runs out
        # (the ledger may also have taken that call meanwhile: it replays it then).
        await until(lambda: relayed(second), what=lambda: logs(ledger, *pair))
        await until(lambda: _no_unposted(payments_dsn), what=lambda: logs(*pair))
        await posted_once(ledger_dsn, payments_dsn, first + second)


async def _no_unposted(dsn: str) -> bool:
    return await value(dsn, "SELECT count(*) FROM ledger_outbox WHERE posted_at IS NULL") == 0


async def test_two_reconcilers_settle_each_payment_once(
    create_db: CreateDb, redis_url: str, tmp_path: Path, paystack: FakeProvider
) -> None:
    dsn = await create_db("payments")
    env = service_env(
        "payments",
        dsn=dsn,
        redis_url=redis_url,
        settings={
            "paystack_base_url": paystack.url,
            "paystack_secret_key": PAYSTACK_KEY,
            "reconcile_interval": 0.1,
            "reconcile_after": 0,
            "relay_interval": 3600,
            "ledger_url": f"http://127.0.0.1:{free_port()}",  # the postings only wait here
        },
    )
    paystack.latency = 0.05  # both replicas' rounds overlap on every intent
    with replicas("payments", env, tmp_path) as pair:
        async with httpx.AsyncClient(base_url=pair[0].url, timeout=30) as http:
            made = [await create(http, provider="paystack", confirm=True) for _ in range(20)]
        intents = [response.json()["id"] for response in made]
        assert all(r.json()["status"] == "requires_action" for r in made), made[0].text

        async def succeeded(wanted: list[str]) -> bool:
            done = await value(
                dsn,
                "SELECT count(*) FROM payment_intents WHERE id = ANY($1::text[]) "
                "AND status = 'succeeded'",
                wanted,
            )
            return done == len(wanted)

        # The customers pay; nobody tells us (no webhook): only the reconcilers find out.
        for intent_id in intents[:10]:
            paystack.complete(intent_id)
        await until(lambda: succeeded(intents[:10]), what=lambda: logs(*pair))
        # One replica dies; what is paid after that is the survivor's to find.
        pair[0].kill()
        for intent_id in intents[10:]:
            paystack.complete(intent_id)
        await until(lambda: succeeded(intents), what=lambda: logs(*pair))
    assert await value(dsn, "SELECT count(*) FROM ledger_outbox") == len(intents)
    events = await value(dsn, "SELECT count(*) FROM outbox WHERE type = 'payment_intent.succeeded'")
    assert events == len(intents)


# -- refunds through a provider (issue #16) ----------------------------------------------------


async def test_two_reconcilers_settle_each_refund_once(
    create_db: CreateDb, redis_url: str, tmp_path: Path, paystack: FakeProvider
) -> None:
    dsn = await create_db("payments")
    env = service_env(
        "payments",
        dsn=dsn,
        redis_url=redis_url,
        settings={
            "paystack_base_url": paystack.url,
            "paystack_secret_key": PAYSTACK_KEY,
            "reconcile_interval": 0.1,
            "reconcile_after": 0,
            "relay_interval": 3600,
            "ledger_url": f"http://127.0.0.1:{free_port()}",  # the postings only wait here
        },
    )
    paystack.latency = 0.05  # both replicas' rounds overlap on every refund
    with replicas("payments", env, tmp_path) as pair:
        async with httpx.AsyncClient(base_url=pair[0].url, timeout=30) as http:
            made = [await create(http, provider="paystack", confirm=True) for _ in range(8)]
            intents = [response.json()["id"] for response in made]
            for intent_id in intents:
                paystack.complete(intent_id)

            async def counted(query: str, wanted: int) -> bool:
                return bool(await value(dsn, query) == wanted)

            paid = "SELECT count(*) FROM payment_intents WHERE status = 'succeeded'"
            await until(lambda: counted(paid, len(intents)), what=lambda: logs(*pair))
            for intent_id in intents:
                refunded = await http.post(
                    "/payments/refunds", json={"payment_intent": intent_id}, headers=key()
                )
                assert refunded.json()["status"] == "pending", refunded.text
        # Paystack processes them; nobody tells us (no webhook): the reconcilers find out.
        for refund in list(paystack.refunds.values()):
            paystack.settle_refund(refund.id, "processed")
        done = "SELECT count(*) FROM refunds WHERE status = 'succeeded'"
        await until(lambda: counted(done, len(intents)), what=lambda: logs(*pair))
    postings = "SELECT count(*) FROM ledger_outbox WHERE reference_id LIKE 're_%'"
    assert await value(dsn, postings) == len(intents)
    events = await value(dsn, "SELECT count(*) FROM outbox WHERE type = 'refund.succeeded'")
    assert events == len(intents)
