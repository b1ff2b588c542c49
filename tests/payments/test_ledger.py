"""Money reaches the ledger exactly once, whatever dies in between."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import httpx
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from cli.main import app as cli_app
from cli.stack.ports import free_port
from services.payments.repository import outbox as outbox_repo
from shared.ids import new_id
from tests.conftest import CreateDb, ServiceClient
from tests.support.asgi import identity_headers
from tests.support.wallet import build, serving

TENANT = "ten_money"


def tenant() -> dict[str, str]:
    return identity_headers(tenant_id=TENANT)


async def test_the_ledger_being_down_only_delays_the_posting(
    service_client: ServiceClient, create_db: CreateDb
) -> None:
    payments_db = await create_db("payments")
    dead = f"http://127.0.0.1:{free_port()}"
    async with service_client(
        "payments", database_url=payments_db, ledger_url=dead, relay_interval=0.05
    ) as payments:
        await payments.post(
            "/payments/payment_intents",
            json={"amount": 700, "currency": "usd", "payment_method": "pm_card_visa",
                  "confirm": True},
            headers=tenant(),
        )  # fmt: skip
        await asyncio.sleep(0.5)
    conn = await asyncpg.connect(payments_db)
    try:
        row = await conn.fetchrow("SELECT attempts, last_error, posted_at FROM ledger_outbox")
    finally:
        await conn.close()
    assert row is not None
    assert row["posted_at"] is None
    assert row["attempts"] >= 1
    assert row["last_error"]


# -- refused and delayed postings -------------------------------------------------------------


async def _outbox(dsn: str, reference_id: str) -> asyncpg.Record:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT attempts, last_error, posted_at, failed_at, failure::text AS failure "
            "FROM ledger_outbox WHERE reference_id = $1",
            reference_id,
        )
    finally:
        await conn.close()
    assert row is not None
    return row


async def _until(dsn: str, reference_id: str, column: str, *, seconds: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while (await _outbox(dsn, reference_id))[column] is None:
        assert asyncio.get_running_loop().time() < deadline, await _outbox(dsn, reference_id)
        await asyncio.sleep(0.05)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _owe(dsn: str, reference_id: str, credit: str) -> None:
    """A posting payments owes the ledger, written as payments writes one."""
    conn = await asyncpg.connect(dsn)
    try:
        await outbox_repo.insert_outbox(
            conn,
            outbox_id=new_id("obx"),
            tenant_id=TENANT,
            livemode=False,
            reference_id=reference_id,
            body={
                "reference_id": reference_id,
                "description": f"Payment {reference_id}",
                "metadata": {"payment_intent": reference_id},
                "entries": [
                    {"account_id": "payments.clearing.usd", "amount": 700, "direction": "debit"},
                    {"account_id": credit, "amount": 700, "direction": "credit"},
                ],
            },
            currency="usd",
        )
    finally:
        await conn.close()


async def test_a_posting_the_ledger_refuses_is_failed_once_announced_counted_and_shown(
    create_db: CreateDb, redis_url: str, tmp_path: Path
) -> None:
    ledger_db, payments_db = await create_db("ledger"), await create_db("payments")
    refused_before = _sample(
        "micro_ledger_postings_refused_total", service="payments", code="resource_missing"
    )
    ledger_404s = {"service": "ledger", "method": "POST", "route": "/ledger/transactions",
                   "status": "404"}  # fmt: skip
    answered_before = _sample("micro_http_requests_total", **ledger_404s)
    ledger_refused = {"outcome": "refused", "mode": "test"}
    ledger_refused_before = _sample("micro_ledger_transactions_total", **ledger_refused)
    ledger = build("ledger", redis_url, database_url=ledger_db)
    async with serving(ledger) as ledger_url:
        payments = build(
            "payments", redis_url, database_url=payments_db, ledger_url=ledger_url,
            relay_interval=0.05,
        )  # fmt: skip
        payments_port = free_port()
        async with serving(payments, port=payments_port) as payments_url:
            # A payment into a wallet whose ledger account is gone: the ledger says 404.
            await _owe(payments_db, "pi_gone_wallet", "wallet.wal_gone")
            await _until(payments_db, "pi_gone_wallet", "failed_at")
            # Twenty more relay rounds: never sent again.
            await asyncio.sleep(1.0)
            row = await _outbox(payments_db, "pi_gone_wallet")
            async with httpx.AsyncClient(base_url=payments_url) as http:
                metrics = (await http.get("/metrics")).text
            env = {
                "MICRO_DEV_DIR": str(tmp_path / ".micro"),
                "MICRO_DEV_HTTP_PORTS": json.dumps({"payments": payments_port}),
            }
            status = await asyncio.to_thread(
                CliRunner().invoke, cli_app, ["dev", "status"], env=env
            )
    assert (row["attempts"], row["posted_at"]) == (1, None)
    failure = json.loads(row["failure"])
    assert (failure["status"], failure["code"]) == (404, "resource_missing")
    assert "wallet.wal_gone" in failure["message"]
    # The ledger was asked once.
    assert _sample("micro_http_requests_total", **ledger_404s) - answered_before == 1
    # Counted, by the ledger's code; the gauge shows it to Prometheus and `micro dev status`.
    assert (
        _sample("micro_ledger_postings_refused_total", service="payments", code="resource_missing")
        - refused_before
        == 1
    )
    assert 'micro_ledger_postings_failed{service="payments"} 1.0' in metrics
    # Failed is not pending: nothing more is owed; the ledger counted its own refusal.
    assert 'micro_ledger_postings_pending{service="payments"} 0.0' in metrics
    assert _sample("micro_ledger_transactions_total", **ledger_refused) - ledger_refused_before == 1
    assert "1 ledger posting(s) refused by the ledger, not retried" in status.output
    # Announced, once, like every other payments event.
    conn = await asyncpg.connect(payments_db)
    try:
        announced = await conn.fetch(
            "SELECT payload FROM outbox WHERE type = 'ledger.posting.failed'"
        )
    finally:
        await conn.close()
    [event] = [json.loads(r["payload"]) for r in announced]
    posting = event["data"]["object"]
    assert (event["tenant_id"], event["livemode"]) == (TENANT, False)
    assert (posting["object"], posting["reference_id"], posting["status"]) == (
        "ledger_posting", "pi_gone_wallet", "failed",
    )  # fmt: skip
    assert posting["failure"]["code"] == "resource_missing"
    assert posting["transaction"]["entries"][1]["account_id"] == "wallet.wal_gone"


async def test_a_posting_waits_out_a_ledger_outage_and_lands_once(
    create_db: CreateDb, redis_url: str
) -> None:
    ledger_db, payments_db = await create_db("ledger"), await create_db("payments")
    ledger_port = free_port()
    payments = build(
        "payments", redis_url, database_url=payments_db, relay_interval=0.05,
        ledger_url=f"http://127.0.0.1:{ledger_port}", internal_backoff_max=0.05,
    )  # fmt: skip
    async with serving(payments) as payments_url:
        async with httpx.AsyncClient(base_url=payments_url) as http:
            paid = await http.post(
                "/payments/payment_intents",
                json={"amount": 700, "currency": "usd", "payment_method": "pm_card_visa",
                      "confirm": True},
                headers=tenant(),
            )  # fmt: skip
        assert paid.status_code == 200, paid.text
        intent_id = paid.json()["id"]
        # Nothing listens where the ledger should be: tried, and tried again.
        deadline = asyncio.get_running_loop().time() + 10
        while (await _outbox(payments_db, intent_id))["attempts"] < 2:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        waiting = await _outbox(payments_db, intent_id)
        assert (waiting["posted_at"], waiting["failed_at"]) == (None, None)
        # The ledger comes back where it was: the posting lands (backoff: within seconds).
        ledger = build("ledger", redis_url, database_url=ledger_db)
        async with serving(ledger, port=ledger_port) as ledger_url:
            await _until(payments_db, intent_id, "posted_at", seconds=15)
            async with httpx.AsyncClient(base_url=ledger_url) as http:
                found = await http.get(
                    "/ledger/transactions", params={"reference_id": intent_id}, headers=tenant()
                )
    assert [t["reference_id"] for t in found.json()["data"]] == [intent_id]
    assert (await _outbox(payments_db, intent_id))["failed_at"] is None
