"""A withdrawal through Flutterwave whose transfer's create call timed out at payments: the
reconciler finds the transfer by its reference, or finds there is none, and the withdrawal
ends accordingly (hold posted once, or voided), with no Flutterwave webhook ever sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.wallet.service.recovery import recover_once
from tests.fakes.providers import FakeProvider, serve
from tests.support.payments import FLUTTERWAVE_KEY, PAYSTACK_KEY, overrides, reconcile
from tests.support.servers import PostgresHandle
from tests.support.wallet import (
    BANK,
    World,
    balance,
    create_wallet,
    fund,
    key,
    ledger_transactions,
    new_tenant,
    settled,
    verify_ledger,
    world,
)


@pytest.fixture(scope="module")
async def fakes() -> AsyncIterator[tuple[FakeProvider, FakeProvider]]:
    async with (
        serve(FakeProvider("paystack", PAYSTACK_KEY)) as paystack,
        serve(FakeProvider("flutterwave", FLUTTERWAVE_KEY)) as flutterwave,
    ):
        yield paystack, flutterwave


@pytest.fixture(scope="module")
async def services(
    pg: PostgresHandle,
    templates: dict[str, str],
    redis_url: str,
    fakes: tuple[FakeProvider, FakeProvider],
) -> AsyncIterator[World]:
    # Only the reconciler (run by hand) and the recovery job finish what was left.
    async with world(
        pg,
        templates,
        redis_url,
        payments={**overrides(*fakes), "relay_interval": 0.05},
        follow_events=False,
    ) as found:
        yield found


@pytest.fixture
def flutterwave(fakes: tuple[FakeProvider, FakeProvider]) -> FakeProvider:
    fake = fakes[1]
    fake.lost_answers.clear()
    fake.slow.clear()
    return fake


async def timed_out_withdrawal(services: World, tenant: str) -> tuple[dict[str, Any], str]:
    wallet = await create_wallet(services.http, key(tenant))
    await fund(services.http, wallet["id"], 1000, key(tenant))
    body = {"wallet_id": wallet["id"], "amount": 400, "destination": BANK,
            "provider": "flutterwave"}  # fmt: skip
    response = await services.http.post("/wallet/withdraw", json=body, headers=key(tenant))
    assert response.status_code == 200, response.text
    op: dict[str, Any] = response.json()
    assert op["status"] == "pending"
    return op, wallet["id"]


async def reconciled_and_recovered(
    services: World, fakes: tuple[FakeProvider, FakeProvider], tenant: str, op_id: str
) -> tuple[dict[str, int], dict[str, Any]]:
    done = await reconcile(services.ups.payments_db, *fakes)
    state = services.app.state
    found = await settled(
        services.http, op_id, key(tenant), nudge=lambda: recover_once(state, grace=0)
    )
    return done, found


async def test_a_transfer_found_by_reference_pays_the_withdrawal_once(
    services: World, fakes: tuple[FakeProvider, FakeProvider], flutterwave: FakeProvider
) -> None:
    tenant = new_tenant()
    flutterwave.lost_answers.add("transfer")
    op, wallet_id = await timed_out_withdrawal(services, tenant)
    flutterwave.lost_answers.clear()
    done, found = await reconciled_and_recovered(services, fakes, tenant, op["id"])
    assert done == {"payout_paid": 1}
    assert found["status"] == "succeeded"
    assert (await balance(services.http, wallet_id, key(tenant)))["posted"] == 600
    assert len(await ledger_transactions(services.ups, f"{op['id']}:post", tenant)) == 1
    report = await verify_ledger(services.ups)
    assert report["ok"], report["discrepancies"]


async def test_a_transfer_that_never_arrived_releases_the_hold(
    services: World, fakes: tuple[FakeProvider, FakeProvider], flutterwave: FakeProvider
) -> None:
    tenant = new_tenant()
    flutterwave.slow.add("transfer")
    op, wallet_id = await timed_out_withdrawal(services, tenant)
    # Until the reconciler has asked, the money stays held.
    await recover_once(services.app.state, grace=0)
    held = await balance(services.http, wallet_id, key(tenant))
    assert (held["available"], held["pending"]) == (600, 400)
    done, found = await reconciled_and_recovered(services, fakes, tenant, op["id"])
    assert done == {"payout_failed": 1}
    assert (found["status"], found["failure_code"]) == ("failed", "could_not_process")
    released = await balance(services.http, wallet_id, key(tenant))
    assert (released["posted"], released["available"], released["pending"]) == (1000, 1000, 0)
    [hold] = await ledger_transactions(services.ups, op["id"], tenant)
    assert hold["status"] == "voided"
    report = await verify_ledger(services.ups)
    assert report["ok"], report["discrepancies"]
