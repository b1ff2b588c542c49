"""The wallet's background work with two replicas running at once as real processes on one
database: recovery (transfers whose replica was killed while it drove them, lease in hand,
mid-call to the ledger, are finished by the other replica once the lease runs out, each
posted once and announced once) and the event listener (an event whose replica died
handling it is handled by the other). docs/architecture.md, "Background jobs and replicas"."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis

from cli.stack.ports import free_port
from shared import outbox
from shared.ids import new_id
from shared.ledger_contract import wallet_code
from tests.conftest import CreateDb
from tests.support.ledger import as_service, transfer_body
from tests.support.polling import until
from tests.support.replicas import logs, paused, replicas, service_env, value
from tests.support.servers import owner_dsn
from tests.support.wallet import TENANT, create_wallet, key

TRANSFERS = 20


async def test_transfers_a_killed_replica_was_driving_are_finished_once_by_the_other(
    create_db: CreateDb, redis_url: str, tmp_path: Path
) -> None:
    wallet_dsn, ledger_dsn = await create_db("wallet"), await create_db("ledger")
    ledger_env = service_env("ledger", dsn=ledger_dsn, redis_url=redis_url)
    with replicas("ledger", ledger_env, tmp_path, count=1) as (ledger,):
        env = service_env(
            "wallet",
            dsn=wallet_dsn,
            redis_url=redis_url,
            settings={
                "ledger_url": ledger.url,
                "payments_url": f"http://127.0.0.1:{free_port()}",  # transfers never call it
                "follow_events": False,
                "recovery_interval": 0.1,
                "recovery_grace": 0.3,
                # Longer than the ledger is paused below, shorter than a call may take.
                "driver_lease": 5,
                "internal_timeout": 60,
                "internal_attempts": 1,
            },
        )
        with replicas("wallet", env, tmp_path) as pair:
            clients = [httpx.AsyncClient(base_url=r.url, timeout=90) for r in pair]
            try:
                source = await create_wallet(clients[0], owner="cus_a")
                target = await create_wallet(clients[0], owner="cus_b")
                async with httpx.AsyncClient(base_url=ledger.url) as books:
                    cash = {"name": "cash", "code": "cash", "type": "asset", "currency": "usd"}
                    made = await books.post("/ledger/accounts", json=cash, headers=key())
                    assert made.status_code == 201, made.text
                    funded = await books.post(
                        "/ledger/transactions",
                        json=transfer_body("fund", "cash", wallet_code(source["id"]), 10_000),
                        # Money comes into a wallet from payments, a service, as here.
                        headers=as_service(TENANT),
                    )
                    assert funded.status_code == 201, funded.text

                body = {"from_wallet_id": source["id"], "to_wallet_id": target["id"], "amount": 100}
                # The ledger stops answering: every transfer's driver leases its operation
                # and sits in its call, half of them in each replica.
                with paused(ledger.process):
                    requests = [
                        asyncio.create_task(
                            clients[n % 2].post("/wallet/transfer", json=body, headers=key())
                        )
                        for n in range(TRANSFERS)
                    ]

                    async def all_leased() -> bool:
                        leased = await value(
                            wallet_dsn,
                            "SELECT count(*) FROM wallet_operations WHERE type = 'transfer' "
                            "AND status = 'pending' AND driver IS NOT NULL",
                        )
                        return leased == TRANSFERS

                    await until(all_leased, what=lambda: logs(*pair))
                    pair[0].kill()
                answers = await asyncio.gather(*requests, return_exceptions=True)
                # The survivor's own requests finish as usual.
                for answer in answers[1::2]:
                    assert isinstance(answer, httpx.Response), answer
                    assert answer.json()["status"] == "succeeded", answer.text

                async def all_succeeded() -> bool:
                    done = await value(
                        wallet_dsn,
                        "SELECT count(*) FROM wallet_operations "
                        "WHERE type = 'transfer' AND status = 'succeeded'",
                    )
                    return done == TRANSFERS

                await until(all_succeeded, what=lambda: logs(ledger, *pair))
            finally:
                for http in clients:
                    with contextlib.suppress(httpx.HTTPError):
                        await http.aclose()
    operations = await value(
        wallet_dsn, "SELECT array_agg(id) FROM wallet_operations WHERE type = 'transfer'"
    )
    assert isinstance(operations, list)
    # Posted once each: the ledger replays a reference it has (the killed replica's call
    # may have reached it before the survivor's).
    posted = await value(
        ledger_dsn,
        "SELECT count(DISTINCT reference_id) FILTER (WHERE true) * 1000 + count(*) "
        "FROM transactions WHERE reference_id = ANY($1::text[])",
        operations,
    )
    assert posted == TRANSFERS * 1000 + TRANSFERS
    # Announced once each.
    announced = await value(
        wallet_dsn,
        "SELECT array_agg(payload) FROM outbox WHERE type = 'wallet.transfer.completed'",
    )
    assert isinstance(announced, list)
    ids = sorted(json.loads(p)["data"]["object"]["id"] for p in announced)
    assert ids == sorted(operations)
    balance = await value(
        ledger_dsn,
        "SELECT credits_posted - debits_posted FROM accounts WHERE code = $1",
        wallet_code(target["id"]),
    )
    assert balance == TRANSFERS * 100


async def test_an_event_a_killed_replica_was_handling_is_handled_by_the_other(
    create_db: CreateDb, redis_url: str, tmp_path: Path
) -> None:
    """A payment made for a wallet straight through payments is learned from its event only:
    the replica that read it dies before it recorded it, and the other takes it over."""
    wallet_dsn, ledger_dsn = await create_db("wallet"), await create_db("ledger")
    ledger_env = service_env("ledger", dsn=ledger_dsn, redis_url=redis_url)
    with replicas("ledger", ledger_env, tmp_path, count=1) as (ledger,):
        env = service_env(
            "wallet",
            dsn=wallet_dsn,
            redis_url=redis_url,
            settings={
                "ledger_url": ledger.url,
                "payments_url": f"http://127.0.0.1:{free_port()}",  # asked about it: away
                "events_group": f"wallet-{secrets.token_hex(4)}",
                "events_claim_idle_ms": 1000,
                "recovery_interval": 3600,
            },
        )
        redis = aioredis.from_url(redis_url)
        blocker = await asyncpg.connect(owner_dsn(wallet_dsn))
        try:
            # Replica 1 alone first: the event is its to read.
            with replicas("wallet", env, tmp_path, count=1) as (victim,):
                async with httpx.AsyncClient(base_url=victim.url, timeout=30) as http:
                    wallet = await create_wallet(http, owner="cus_a")
                locking = blocker.transaction()
                await locking.start()
                # Operations cannot be written: the handler reads the event, then waits.
                await blocker.execute("LOCK TABLE wallet_operations IN SHARE MODE")
                intent_id = new_id("pi")
                await outbox.publish(
                    redis,
                    [paid_for_wallet(intent_id, wallet["id"])],
                    retention_seconds=3600,
                )

                async def handler_waits() -> bool:
                    waiting = await value(
                        wallet_dsn,
                        "SELECT count(*) FROM pg_locks WHERE NOT granted"
                        " AND relation = 'wallet_operations'::regclass",
                    )
                    return waiting == 1

                await until(handler_waits, what=victim.output)
                with replicas("wallet", env, tmp_path, count=1, first=2) as (survivor,):
                    victim.kill()
                    await locking.rollback()

                    async def recorded() -> bool:
                        found = await value(
                            wallet_dsn,
                            "SELECT count(*) FROM wallet_operations WHERE payment_intent_id = $1",
                            intent_id,
                        )
                        return found == 1

                    await until(recorded, what=lambda: logs(victim, survivor))

                    async def acknowledged() -> bool:
                        summary: Any = await redis.xpending(
                            outbox.ALL_STREAM, env["MICRO_WALLET_EVENTS_GROUP"]
                        )
                        return int(summary["pending"]) == 0

                    await until(acknowledged, what=lambda: logs(victim, survivor))
        finally:
            await blocker.close()
            await redis.aclose()


def paid_for_wallet(intent_id: str, wallet_id: str) -> dict[str, Any]:
    """`payment_intent.succeeded` for a wallet, as payments' outbox publishes it."""
    payload = outbox.encode_event(
        event_id=new_id("evt"),
        type="payment_intent.succeeded",
        tenant_id=TENANT,
        livemode=False,
        data={
            "id": intent_id,
            "object": "payment_intent",
            "amount": 500,
            "currency": "usd",
            "wallet_id": wallet_id,
            "metadata": {},
        },
        request_id=None,
        idempotency_key=None,
    )
    return {
        "event_id": json.loads(payload)["id"],
        "type": "payment_intent.succeeded",
        "tenant_id": TENANT,
        "livemode": False,
        "payload": payload,
    }


async def test_members_of_the_group_that_are_gone_are_forgotten(
    create_db: CreateDb, redis_url: str, tmp_path: Path
) -> None:
    """Every start joins the group under a new name: a member that holds nothing and has
    been silent long is a process that is gone, and is removed (as the events consumer does)."""
    group = f"wallet-{secrets.token_hex(4)}"
    redis = aioredis.from_url(redis_url)
    try:
        await redis.xgroup_create(outbox.ALL_STREAM, group, id="$", mkstream=True)
        await redis.xgroup_createconsumer(outbox.ALL_STREAM, group, "wallet-gone-1")
        env = service_env(
            "wallet",
            dsn=await create_db("wallet"),
            redis_url=redis_url,
            settings={
                "ledger_url": f"http://127.0.0.1:{free_port()}",
                "payments_url": f"http://127.0.0.1:{free_port()}",
                "events_group": group,
                "events_claim_idle_ms": 200,
                "events_forget_after_ms": 0,
                "recovery_interval": 3600,
            },
        )
        with replicas("wallet", env, tmp_path, count=1) as (wallet,):

            async def forgotten() -> bool:
                members: Any = await redis.xinfo_consumers(outbox.ALL_STREAM, group)
                return b"wallet-gone-1" not in {m["name"] for m in members}

            await until(forgotten, what=wallet.output)
    finally:
        await redis.aclose()
