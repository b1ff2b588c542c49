"""A withdrawal whose payout provider is unreachable: asked again with a growing wait under a
new payout each time, then failed with the provider's reason (the hold released) once the
deadline has passed; never driven twice at once by two replicas.

Payments runs for real with Paystack at a local fake (told to answer 503 to the recipient
step) and Flutterwave at a port where nothing listens (connection refused). Time is moved by
writing the withdrawal's timestamps into the past, never by waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import ValidationError

from cli.stack.ports import free_port
from services.wallet.service import withdrawals
from services.wallet.service.recovery import recover_once
from services.wallet.settings import WalletSettings
from tests.fakes.providers import FakeProvider, serve
from tests.support.payments import FLUTTERWAVE_KEY, PAYSTACK_KEY
from tests.support.secrets import TEST_SECRET_FIELDS
from tests.support.servers import PostgresHandle
from tests.support.wallet import (
    BANK,
    World,
    balance,
    create_wallet,
    events,
    fund,
    key,
    ledger_transactions,
    new_tenant,
    verify_ledger,
    wallet_app,
    world,
)

BASE, CAP = 100.0, 250.0


@pytest.fixture(scope="module")
async def paystack() -> AsyncIterator[FakeProvider]:
    async with serve(FakeProvider("paystack", PAYSTACK_KEY)) as fake:
        yield fake


@pytest.fixture(scope="module")
async def services(
    pg: PostgresHandle, templates: dict[str, str], redis_url: str, paystack: FakeProvider
) -> AsyncIterator[World]:
    providers = {
        "paystack_base_url": paystack.url,
        "paystack_secret_key": PAYSTACK_KEY,
        # Nothing listens there: every call is a refused connection.
        "flutterwave_base_url": f"http://127.0.0.1:{free_port()}",
        "flutterwave_secret_key": FLUTTERWAVE_KEY,
        "provider_timeout": 2,
        "reconcile_interval": 3600,
    }
    # No events followed: each round's outcome is then the round's own (a payout.failed
    # heard meanwhile would hold the lease as the round looks); the news is given by hand.
    async with world(
        pg, templates, redis_url, payments=providers, follow_events=False,
        payout_retry_base=BASE, payout_retry_max=CAP,
    ) as found:  # fmt: skip
        yield found


@pytest.fixture(autouse=True)
def provider_back(paystack: FakeProvider) -> None:
    paystack.unavailable.clear()


async def withdrawal(services: World, tenant: str, provider: str) -> tuple[dict[str, Any], str]:
    """A funded wallet's withdrawal of 400 through `provider`: (the operation, the wallet)."""
    wallet = await create_wallet(services.http, key(tenant))
    await fund(services.http, wallet["id"], 1000, key(tenant))
    body = {"wallet_id": wallet["id"], "amount": 400, "destination": BANK, "provider": provider}
    response = await services.http.post("/wallet/withdraw", json=body, headers=key(tenant))
    assert response.status_code == 200, response.text
    op: dict[str, Any] = response.json()
    return op, wallet["id"]


async def payouts(services: World, tenant: str) -> list[dict[str, Any]]:
    """The tenant's payouts, oldest first."""
    async with httpx.AsyncClient(base_url=services.ups.payments_url) as payments:
        response = await payments.get("/payments/payouts", headers=key(tenant))
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["data"]))


async def tries(services: World, op_id: str) -> asyncpg.Record:
    conn = await asyncpg.connect(services.wallet_db)
    try:
        found = await conn.fetchrow(
            "SELECT payout_attempt, retries, next_attempt_at, last_error_code, status "
            "FROM wallet_operations WHERE id = $1",
            op_id,
        )
    finally:
        await conn.close()
    assert found is not None
    return found


async def in_the_past(services: World, op_id: str, *, made: timedelta | None = None) -> None:
    """The next try due now; with `made`, the withdrawal made that long ago as well."""
    conn = await asyncpg.connect(services.wallet_db)
    try:
        await conn.execute(
            "UPDATE wallet_operations SET next_attempt_at = now() - interval '1 second', "
            "created_at = CASE WHEN $2::interval IS NULL THEN created_at "
            "ELSE now() - $2::interval END WHERE id = $1",
            op_id,
            made,
        )
    finally:
        await conn.close()


def waits(record: asyncpg.Record) -> float:
    """Seconds from now until the withdrawal's next try."""
    next_at: datetime = record["next_attempt_at"]
    return (next_at - datetime.now(UTC)).total_seconds()


async def operation(services: World, tenant: str, op_id: str) -> dict[str, Any]:
    response = await services.http.get(f"/wallet/operations/{op_id}", headers=key(tenant))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_an_unreachable_provider_is_asked_again_with_a_growing_wait_then_paid(
    services: World, paystack: FakeProvider
) -> None:
    tenant = new_tenant()
    paystack.unavailable.add("recipient")
    op, wallet_id = await withdrawal(services, tenant, "paystack")
    # Paystack could not serve: the withdrawal waits, the money still held.
    assert (op["status"], op["failure_code"]) == ("pending", None)
    found = await balance(services.http, wallet_id, key(tenant))
    assert (found["available"], found["pending"]) == (600, 400)
    [first] = await payouts(services, tenant)
    assert (first["status"], first["failure_code"]) == ("failed", "provider_unavailable")
    record = await tries(services, op["id"])
    assert (record["payout_attempt"], record["retries"]) == (2, 1)
    assert record["last_error_code"] == "provider_unavailable"
    assert BASE - 5 < waits(record) <= BASE
    # Not due yet: a recovery round leaves it alone, Paystack is not asked again.
    asked = len(paystack.requests)
    await recover_once(services.app.state, grace=0)
    assert len(paystack.requests) == asked
    # Due, and Paystack still down: a second payout fails the same way, the wait doubles.
    await in_the_past(services, op["id"])
    await recover_once(services.app.state, grace=0)
    record = await tries(services, op["id"])
    assert (record["payout_attempt"], record["retries"], record["status"]) == (3, 2, "pending")
    assert 2 * BASE - 5 < waits(record) <= 2 * BASE
    # ...and the third wait is capped.
    await in_the_past(services, op["id"])
    await recover_once(services.app.state, grace=0)
    record = await tries(services, op["id"])
    assert CAP - 5 < waits(record) <= CAP
    assert [p["status"] for p in await payouts(services, tenant)] == ["failed"] * 3
    # News of the first payout's failure, late, changes nothing.
    late = await withdrawals.on_payout(services.app.state, op["id"], first["id"])
    assert (late.status, late.payout_attempt, late.retries) == ("pending", 4, 3)
    # Paystack is back: the next try pays, once.
    paystack.unavailable.clear()
    await in_the_past(services, op["id"])
    await recover_once(services.app.state, grace=0)
    done = await operation(services, tenant, op["id"])
    assert done["status"] == "succeeded"
    paid = (await payouts(services, tenant))[-1]
    assert (done["payout"], paid["status"]) == (paid["id"], "paid")
    assert paid["metadata"] == {"wallet_operation": op["id"], "wallet_attempt": "4"}
    assert len(await ledger_transactions(services.ups, f"{op['id']}:post", tenant)) == 1
    assert (await balance(services.http, wallet_id, key(tenant)))["posted"] == 600
    # Finished: further rounds ask for nothing.
    await in_the_past(services, op["id"])
    await recover_once(services.app.state, grace=0)
    assert len(await payouts(services, tenant)) == 4
    report = await verify_ledger(services.ups)
    assert report["ok"], report["discrepancies"]


async def test_past_the_deadline_it_fails_with_the_reason_and_releases_the_hold(
    services: World,
) -> None:
    tenant = new_tenant()
    # Flutterwave refuses the connection (nothing listens at its URL).
    op, wallet_id = await withdrawal(services, tenant, "flutterwave")
    assert op["status"] == "pending"
    assert (await balance(services.http, wallet_id, key(tenant)))["available"] == 600
    # A day and more later, the provider still unreachable: failed, with its reason.
    await in_the_past(services, op["id"], made=timedelta(hours=25))
    await recover_once(services.app.state, grace=0)
    failed = await operation(services, tenant, op["id"])
    assert (failed["status"], failed["failure_code"]) == ("failed", "provider_unavailable")
    assert "could not be reached" in failed["failure_message"]
    found = await balance(services.http, wallet_id, key(tenant))
    assert (found["posted"], found["available"], found["pending"]) == (1000, 1000, 0)
    [hold] = await ledger_transactions(services.ups, op["id"], tenant)
    assert hold["status"] == "voided"
    types = [e["type"] for e in await events(services.wallet_db, tenant)]
    assert types.count("wallet.withdrawal.failed") == 1
    assert [p["status"] for p in await payouts(services, tenant)] == ["failed", "failed"]
    # Final: nothing is asked again.
    await in_the_past(services, op["id"])
    await recover_once(services.app.state, grace=0)
    assert len(await payouts(services, tenant)) == 2
    report = await verify_ledger(services.ups)
    assert report["ok"], report["discrepancies"]


async def test_two_replicas_ask_for_a_due_payout_once(
    services: World, paystack: FakeProvider
) -> None:
    tenant = new_tenant()
    paystack.unavailable.add("recipient")
    op, _ = await withdrawal(services, tenant, "paystack")
    await in_the_past(services, op["id"])
    async with wallet_app(services.settings) as one, wallet_app(services.settings) as two:
        await asyncio.gather(*(recover_once(app.state, grace=0) for app in (one, two, one, two)))
    # One new payout for the due try, not one per replica or round.
    assert len(await payouts(services, tenant)) == 2
    record = await tries(services, op["id"])
    assert (record["payout_attempt"], record["retries"]) == (3, 2)


@pytest.mark.parametrize(
    "bad",
    [
        {"withdrawal_deadline": -1},
        {"payout_retry_base": 0},
        {"payout_retry_max": -5},
        {"withdrawal_deadline": "a day"},
    ],
)
def test_bad_retry_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        WalletSettings.model_validate({**TEST_SECRET_FIELDS, **bad})
