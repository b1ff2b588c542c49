"""The wallet calls the ledger and payments with no database transaction open, and one
driver at a time moves an operation, through leases rather than held row locks."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from urllib.parse import urlparse

import asyncpg
import httpx
import pytest

from cli.stack.ports import free_port
from services.wallet.clients import wallet_code
from services.wallet.errors import DriverReplacedError
from services.wallet.service import operations, transfers
from services.wallet.service.recovery import recover_once
from shared.db import TransactionHeldError, transaction
from shared.internal_client import Scope
from tests.support.wallet import (
    BANK,
    World,
    answer_lost,
    balance,
    create_wallet,
    fund,
    key,
    ledger_transactions,
    wallet_app,
)


async def test_a_wallet_call_inside_a_transaction_is_refused_before_it_leaves(
    services: World, http: httpx.AsyncClient, tenant: str
) -> None:
    wallet = await create_wallet(http, key(tenant))
    state = services.app.state
    scope = Scope(tenant, False)
    async with transaction(state.pool):
        with pytest.raises(TransactionHeldError, match="ledger service"):
            await state.ledger.account(scope, wallet_code(wallet["id"]))
        with pytest.raises(TransactionHeldError, match="payments service"):
            await state.payments.find_payout(scope, wallet_id=wallet["id"], operation_id="wop_x")
    # With the transaction over, the same lookup goes through.
    found = await state.ledger.account(scope, wallet_code(wallet["id"]))
    assert found["id"] == wallet["ledger_account_id"]


async def test_no_connection_idles_in_a_transaction_while_payments_is_slow(
    services: World, http: httpx.AsyncClient, tenant: str
) -> None:
    wallet = await create_wallet(http, key(tenant))
    await fund(http, wallet["id"], 1000, key(tenant))
    database = urlparse(services.wallet_db).path.lstrip("/")
    longest = 0.0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal longest
        conn = await asyncpg.connect(services.wallet_db)
        try:
            while not done.is_set():
                # Transactions that touch operations (the shared outbox relay's own
                # transactions are another matter: they hold no wallet row).
                idle = await conn.fetchval(
                    """
                    SELECT coalesce(max(extract(epoch FROM now() - a.state_change)), 0)
                    FROM pg_stat_activity a
                    WHERE a.datname = $1 AND a.state = 'idle in transaction' AND EXISTS (
                        SELECT 1 FROM pg_locks l WHERE l.pid = a.pid
                        AND l.relation = 'wallet_operations'::regclass)
                    """,
                    database,
                )
                longest = max(longest, float(idle))
                await asyncio.sleep(0.01)
        finally:
            await conn.close()

    # Every payments answer takes 0.6 s; the withdrawal makes several calls.
    async with answer_lost(services.ups.payments_url, delay=0.6) as slow_payments:
        slow = services.settings.model_copy(update={"payments_url": slow_payments})
        async with wallet_app(slow) as app:
            watcher = asyncio.create_task(watch())
            response = await app.http.post(
                "/wallet/withdraw",
                json={"wallet_id": wallet["id"], "amount": 400, "destination": BANK},
                headers=key(tenant),
            )
            done.set()
            await watcher
    assert response.json()["status"] == "succeeded", response.text
    assert longest < 0.1, f"a connection sat idle in a transaction for {longest:.3f}s"


async def pending_transfer(services: World, tenant: str) -> tuple[dict[str, str], str]:
    """Two wallets, and a transfer between them that a process without the ledger left."""
    http = services.http
    ada, bob = await create_wallet(http, key(tenant)), await create_wallet(http, key(tenant))
    await fund(http, ada["id"], 500, key(tenant))
    down = services.settings.model_copy(update={"ledger_url": f"http://127.0.0.1:{free_port()}"})
    async with wallet_app(down) as cut_off:
        response = await cut_off.http.post(
            "/wallet/transfer",
            json={"from_wallet_id": ada["id"], "to_wallet_id": bob["id"], "amount": 200},
            headers=key(tenant),
        )
    op = response.json()
    assert op["status"] == "pending", op
    return bob, op["id"]


async def _set_driver(services: World, op_id: str, until: timedelta) -> None:
    conn = await asyncpg.connect(services.wallet_db)
    try:
        await conn.execute(
            "UPDATE wallet_operations SET driver = 'drv_dead', "
            "driver_until = now() + $2::interval WHERE id = $1",
            op_id,
            until,
        )
    finally:
        await conn.close()


async def test_a_dead_drivers_operation_waits_for_its_lease_then_is_recovered(
    services: World, tenant: str
) -> None:
    bob, op_id = await pending_transfer(services, tenant)
    # A driver took the transfer and died before writing what the ledger said.
    await _set_driver(services, op_id, timedelta(hours=1))
    state = services.app.state
    await recover_once(state, grace=0)
    assert (await operations.current(state.pool, op_id)).status == "pending"
    # Its lease runs out: the recovery job repeats the step, once.
    await _set_driver(services, op_id, timedelta(seconds=-1))
    await recover_once(state, grace=0)
    assert (await operations.current(state.pool, op_id)).status == "succeeded"
    assert (await balance(services.http, bob["id"], key(tenant)))["posted"] == 200
    assert len(await ledger_transactions(services.ups, op_id, tenant)) == 1


async def test_a_driver_whose_lease_ran_out_loses_its_write_to_the_next(
    services: World, tenant: str
) -> None:
    bob, op_id = await pending_transfer(services, tenant)
    brief = services.settings.model_copy(update={"driver_lease": 0.2, "follow_events": False})
    async with wallet_app(brief) as app, operations.driving(app.state, op_id) as stalled:
        assert stalled.leased
        await asyncio.sleep(0.3)  # stuck past its lease...
        # ...so another driver takes the operation over and finishes it,
        finished = await transfers.drive(app.state, op_id)
        assert finished.status == "succeeded"
        # and the stalled driver's late write is refused rather than undoing that.
        with pytest.raises(DriverReplacedError):
            await stalled.apply(
                lambda conn, row: operations.finish(
                    conn, row, "failed", failure=("late", "a late answer")
                )
            )
    assert (await operations.current(services.app.state.pool, op_id)).status == "succeeded"
    assert (await balance(services.http, bob["id"], key(tenant)))["posted"] == 200
