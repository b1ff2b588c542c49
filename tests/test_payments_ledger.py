"""Money reaches the ledger exactly once, whatever dies in between (DESIGN §6)."""

from __future__ import annotations

import asyncio

import asyncpg

from cli.stack.ports import free_port
from tests.conftest import CreateDb, ServiceClient
from tests.support.asgi import identity_headers

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
