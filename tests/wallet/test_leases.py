"""A request drives the operation it starts without a transaction of its own to take the
lease, and lets the lease go with the operation's final write (#19: two commits fewer per
transfer), while another driver still cannot take an operation its request is driving."""

from __future__ import annotations

import asyncpg
import httpx

from services.wallet.repository import operations as operations_repo
from services.wallet.repository import wallets as wallets_repo
from services.wallet.repository.wallets import WalletRow
from services.wallet.service import operations
from services.wallet.state import WalletState
from shared.context import idempotency_key_var
from shared.db import transaction
from shared.identity import Identity
from tests.support.wallet import World, create_wallet, key


async def _wallet(state: WalletState, tenant: str, wallet_id: str) -> WalletRow:
    async with transaction(state.pool) as conn:
        row = await wallets_repo.get_wallet(
            conn, wallet_id=wallet_id, livemode=False, tenant_id=tenant
        )
    assert row is not None
    return row


async def _started(
    state: WalletState, tenant: str, wallets: tuple[WalletRow, WalletRow], lease: operations.Lease
) -> operations_repo.OperationRow:
    source, target = wallets
    identity = Identity(principal="key_test", principal_type="api_key", tenant_id=tenant)
    async with transaction(state.pool) as conn:
        return await operations.start(
            conn,
            identity,
            type="transfer",
            wallet=source,
            to_wallet=target,
            amount=1,
            history=[(source.id, "transfer_out", target.id), (target.id, "transfer_in", source.id)],
            lease=lease,
        )


async def _driver_of(services: World, operation_id: str) -> str | None:
    conn = await asyncpg.connect(services.wallet_db)
    try:
        found: str | None = await conn.fetchval(
            "SELECT driver FROM wallet_operations WHERE id = $1", operation_id
        )
        return found
    finally:
        await conn.close()


async def _pair(services: World, http: httpx.AsyncClient, tenant: str) -> tuple[WalletRow, ...]:
    made = [await create_wallet(http, key(tenant)) for _ in range(2)]
    return tuple([await _wallet(services.app.state, tenant, w["id"]) for w in made])


async def test_a_started_operation_is_leased_to_its_request_and_no_one_else_takes_it(
    services: World, http: httpx.AsyncClient, tenant: str
) -> None:
    state = services.app.state
    source, target = await _pair(services, http, tenant)
    lease = operations.Lease.new(state)
    row = await _started(state, tenant, (source, target), lease)
    assert row.driver == lease.token
    assert await _driver_of(services, row.id) == lease.token
    async with operations.driving(state, row.id, taken=(row, lease)) as driver:
        assert driver.leased
        assert driver.token == lease.token
        async with transaction(state.pool) as conn:
            other = await operations_repo.take_lease(
                conn, row.id, driver="drv_other", lease=lease.length
            )
        assert other is None  # the request's lease is live: nobody else drives it
        # The final write lets the lease go in its own transaction, before the block ends.
        await driver.apply(lambda conn, row: operations.finish(conn, row, "succeeded"))
        assert await _driver_of(services, row.id) is None
    assert (await operations.current(state.pool, row.id)).status == "succeeded"


async def test_an_operation_made_earlier_under_the_key_is_not_taken_as_leased(
    services: World, http: httpx.AsyncClient, tenant: str
) -> None:
    state = services.app.state
    source, target = await _pair(services, http, tenant)
    token = idempotency_key_var.set("lease-key")
    try:
        first = await _started(state, tenant, (source, target), operations.Lease.new(state))
        # A rerun under the same key finds the first operation, leased to another driver.
        lease = operations.Lease.new(state)
        again = await _started(state, tenant, (source, target), lease)
    finally:
        idempotency_key_var.reset(token)
    assert again.id == first.id
    assert again.driver != lease.token
    async with transaction(state.pool) as conn:
        await operations_repo.release_lease(conn, first.id, driver=str(first.driver))
    # Not adopted: the lease is taken as for any other operation, under a token of its own.
    async with operations.driving(state, again.id, taken=(again, lease)) as driver:
        assert driver.leased
        assert driver.token != lease.token
        assert await _driver_of(services, again.id) == driver.token
    assert await _driver_of(services, again.id) is None  # released when the block ended
