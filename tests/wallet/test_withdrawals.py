"""Withdrawals: hold, payout, then post or void; exactly one settlement whatever fails."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from cli.stack.ports import free_port
from services.wallet.service import withdrawals
from services.wallet.service.recovery import recover_once
from shared.internal_client import Scope
from shared.money import MAX_AMOUNT
from tests.support.servers import PostgresHandle
from tests.support.wallet import (
    BANK,
    FAILING_BANK,
    SLOW_BANK,
    World,
    answer_lost,
    balance,
    create_wallet,
    events,
    fund,
    history,
    key,
    ledger_transactions,
    new_tenant,
    platform_admin,
    settled,
    user,
    verify_ledger,
    wallet_app,
    world,
)


async def funded(http: httpx.AsyncClient, tenant: str, amount: int = 1000) -> dict[str, Any]:
    wallet = await create_wallet(http, key(tenant))
    await fund(http, wallet["id"], amount, key(tenant))
    return wallet


async def withdraw(
    http: httpx.AsyncClient, tenant: str, wallet_id: str, amount: Any = 400,
    destination: Any = BANK, **extra: Any,
) -> httpx.Response:  # fmt: skip
    body = {"wallet_id": wallet_id, "amount": amount, "destination": destination, **extra}
    return await http.post("/wallet/withdraw", json=body, headers=key(tenant))


async def payouts(services: World, tenant: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=services.ups.payments_url) as payments:
        response = await payments.get("/payments/payouts", headers=key(tenant))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


async def operation(http: httpx.AsyncClient, tenant: str, op_id: str) -> dict[str, Any]:
    response = await http.get(f"/wallet/operations/{op_id}", headers=key(tenant))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def event_types(services: World, tenant: str) -> list[str]:
    return [e["type"] for e in await events(services.wallet_db, tenant)]


async def settled_once(services: World, tenant: str, op: dict[str, Any], *, paid: bool) -> None:
    """One hold and (if paid) one posting in the ledger, one payout, the books balanced."""
    [hold] = await ledger_transactions(services.ups, op["id"], tenant)
    assert hold["status"] == ("archived" if paid else "voided")
    posts = await ledger_transactions(services.ups, f"{op['id']}:post", tenant)
    assert len(posts) == (1 if paid else 0)
    assert len(await payouts(services, tenant)) == 1
    finals = [t for t in await event_types(services, tenant) if t.startswith("wallet.withdrawal.")]
    outcome = "wallet.withdrawal.succeeded" if paid else "wallet.withdrawal.failed"
    assert finals == ["wallet.withdrawal.created", outcome]
    report = await verify_ledger(services.ups)
    assert report["ok"], report["discrepancies"]


class TestOutcomes:
    async def test_a_paid_withdrawal_posts_its_hold(
        self, services: World, http: httpx.AsyncClient, tenant: str
    ) -> None:
        wallet = await funded(http, tenant)
        response = await withdraw(http, tenant, wallet["id"])
        assert response.status_code == 200, response.text
        op = response.json()
        assert (op["type"], op["status"], op["amount"]) == ("withdrawal", "succeeded", 400)
        assert op["destination"]["account_number"] == "******6789"
        assert (await balance(http, wallet["id"], key(tenant)))["posted"] == 600
        [payout] = await payouts(services, tenant)
        assert (payout["id"], payout["wallet_id"], payout["status"]) == (
            op["payout"], wallet["id"], "paid",
        )  # fmt: skip
        # The payout of a wallet posts nothing itself: the wallet's hold is the money.
        assert await ledger_transactions(services.ups, payout["id"], tenant) == []
        line = (await history(http, wallet["id"], key(tenant)))[0]
        assert (line["type"], line["status"], line["net"], line["balance_after"]) == (
            "withdrawal", "succeeded", -400, 600,
        )  # fmt: skip
        assert line["counterparty"] == payout["id"]
        await settled_once(services, tenant, op, paid=True)

    async def test_a_refused_payout_voids_the_hold(
        self, services: World, http: httpx.AsyncClient, tenant: str
    ) -> None:
        wallet = await funded(http, tenant)
        op = (await withdraw(http, tenant, wallet["id"], destination=FAILING_BANK)).json()
        assert (op["status"], op["failure_code"]) == ("failed", "account_closed")
        found = await balance(http, wallet["id"], key(tenant))
        assert (found["posted"], found["available"], found["pending"]) == (1000, 1000, 0)
        await settled_once(services, tenant, op, paid=False)

    async def test_a_slow_bank_keeps_the_money_held(
        self, services: World, http: httpx.AsyncClient, tenant: str
    ) -> None:
        wallet = await funded(http, tenant)
        op = (await withdraw(http, tenant, wallet["id"], destination=SLOW_BANK)).json()
        assert op["status"] == "pending"
        found = await balance(http, wallet["id"], key(tenant))
        assert (found["posted"], found["available"], found["pending"]) == (1000, 600, 400)
        await recover_once(services.app.state, grace=0)
        assert (await operation(http, tenant, op["id"]))["status"] == "pending"
        # Nothing more can leave while the hold stands.
        assert (await withdraw(http, tenant, wallet["id"], amount=601)).status_code == 402

    async def test_not_enough_funds_is_402_and_holds_nothing(
        self, services: World, http: httpx.AsyncClient, tenant: str
    ) -> None:
        wallet = await funded(http, tenant, 300)
        response = await withdraw(http, tenant, wallet["id"], amount=301)
        assert response.status_code == 402
        assert response.json()["error"]["code"] == "insufficient_funds"
        assert await payouts(services, tenant) == []
        assert (await balance(http, wallet["id"], key(tenant)))["available"] == 300
        assert "wallet.withdrawal.created" not in await event_types(services, tenant)

    async def test_a_frozen_wallet_cannot_withdraw(
        self, services: World, http: httpx.AsyncClient, tenant: str
    ) -> None:
        wallet = await funded(http, tenant)
        await http.post(f"/wallet/{wallet['id']}/freeze", headers=key(tenant))
        response = await withdraw(http, tenant, wallet["id"])
        assert (response.status_code, response.json()["error"]["code"]) == (400, "wallet_frozen")
        assert await payouts(services, tenant) == []

    async def test_flat_bank_details_as_seed_clients_send_them(
        self, http: httpx.AsyncClient, tenant: str
    ) -> None:
        wallet = await funded(http, tenant)
        response = await http.post(
            "/wallet/withdraw",
            json={"wallet_id": wallet["id"], "amount": 100, **BANK},
            headers=key(tenant),
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "succeeded"

    @pytest.mark.parametrize(
        ("fields", "param"),
        [
            *[({"amount": bad}, "amount") for bad in
              (0, -1, 100_000_000, MAX_AMOUNT + 1, 1.5, "x", True, None)],
            ({"destination": {**BANK, "account_number": "12"}}, "destination[account_number]"),
            ({"destination": {"bank_code": "058"}}, "destination[account_number]"),
            ({"destination": {**BANK, "bank_code": "!"}}, "destination[bank_code]"),
            ({"destination": None}, "destination"),
            ({"destination": "bank"}, "destination"),
            ({"provider": "Carrier Pigeon"}, "provider"),
            ({"extra": 1}, "extra"),
        ],
    )  # fmt: skip
    async def test_bad_input_is_400_and_holds_nothing(
        self, services: World, http: httpx.AsyncClient, tenant: str,
        fields: dict[str, Any], param: str,
    ) -> None:  # fmt: skip
        wallet = await funded(http, tenant)
        body = {"wallet_id": wallet["id"], "amount": 100, "destination": BANK, **fields}
        response = await http.post("/wallet/withdraw", json=body, headers=key(tenant))
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param
        assert (await balance(http, wallet["id"], key(tenant)))["available"] == 1000
        assert len(await history(http, wallet["id"], key(tenant))) == 1  # the deposit

    async def test_unknown_foreign_and_others_wallets_are_404(
        self, http: httpx.AsyncClient, tenant: str
    ) -> None:
        mine = await create_wallet(http, user("usr_ada", tenant), owner=None)
        theirs = await funded(http, tenant)
        foreign = await funded(http, new_tenant())
        for wallet_id, headers in (
            ("wal_nope", key(tenant)),
            (foreign["id"], key(tenant)),
            (theirs["id"], user("usr_ada", tenant)),
        ):
            body = {"wallet_id": wallet_id, "amount": 100, "destination": BANK}
            response = await http.post("/wallet/withdraw", json=body, headers=headers)
            assert response.status_code == 404
        body = {"wallet_id": mine["id"], "amount": 100, "destination": BANK}
        assert (
            await http.post("/wallet/withdraw", json=body, headers=platform_admin())
        ).status_code == 403

    async def test_a_replayed_key_withdraws_once(
        self, services: World, http: httpx.AsyncClient, tenant: str
    ) -> None:
        wallet = await funded(http, tenant)
        body = {"wallet_id": wallet["id"], "amount": 100, "destination": BANK}
        headers = {**key(tenant), "Idempotency-Key": "out-1"}
        answers = await asyncio.gather(
            *(http.post("/wallet/withdraw", json=body, headers=headers) for _ in range(5))
        )
        assert {a.status_code for a in answers} <= {200, 409}
        assert len({a.json()["id"] for a in answers if a.status_code == 200}) == 1
        assert (await balance(http, wallet["id"], key(tenant)))["posted"] == 900
        assert len(await payouts(services, tenant)) == 1


# -- the saga under failures -----------------------------------------------------------------


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


async def withdrawn_without(
    services: World, tenant: str, wallet_id: str, upstream: str, **fields: Any
) -> dict[str, Any]:
    """A withdrawal by a process whose `upstream` setting (ledger_url, payments_url) points
    where nothing listens: the saga stops at that step, as if the process had died there."""
    broken = services.settings.model_copy(update={upstream: dead_url()})
    async with wallet_app(broken) as crashed:
        op: dict[str, Any] = (await withdraw(crashed.http, tenant, wallet_id, **fields)).json()
    return op


async def withdrawn_answer_lost(
    services: World, tenant: str, wallet_id: str, **settings: Any
) -> dict[str, Any]:
    """A withdrawal by a process that gives up on payments' answer to the payout before it
    comes (payments did pay it; only the answer is lost)."""
    async with answer_lost(services.ups.payments_url, delay=1.5) as proxy:
        slow = services.settings.model_copy(
            update={"payments_url": proxy, "internal_timeout": 0.5, **settings}
        )
        async with wallet_app(slow) as timed_out:
            op: dict[str, Any] = (await withdraw(timed_out.http, tenant, wallet_id)).json()
    return op


async def restarted_and_recovered(services: World, tenant: str, op_id: str) -> dict[str, Any]:
    """A fresh process on the same database, one recovery round, the operation after it."""
    async with wallet_app(services.settings) as fresh:
        await recover_once(fresh.state, grace=0)
    return await operation(services.http, tenant, op_id)


async def test_a_paid_withdrawal_the_bank_sends_back_is_reversed_once(
    services: World, http: httpx.AsyncClient, tenant: str
) -> None:
    wallet = await funded(http, tenant)
    op = (await withdraw(http, tenant, wallet["id"])).json()
    assert op["status"] == "succeeded"
    # The bank returns the money; payments records the payout as failed.
    conn = await asyncpg.connect(services.ups.payments_db)
    try:
        await conn.execute(
            "UPDATE payouts SET status = 'failed', failure_code = 'account_closed' WHERE id = $1",
            op["payout"],
        )
    finally:
        await conn.close()
    state = services.app.state
    await asyncio.gather(*(withdrawals.on_payout(state, op["id"], op["payout"]) for _ in range(3)))
    lines = await history(http, wallet["id"], key(tenant))
    assert [(line["type"], line["net"], line["balance_after"]) for line in lines[:2]] == [
        ("reversal", 400, 1000), ("withdrawal", -400, 600),
    ]  # fmt: skip
    assert (await balance(http, wallet["id"], key(tenant)))["available"] == 1000
    assert (await operation(http, tenant, op["id"]))["status"] == "succeeded"
    assert (await event_types(services, tenant)).count("wallet.withdrawal.reversed") == 1
    report = await verify_ledger(services.ups)
    assert report["ok"], report["discrepancies"]


class TestCrashes:
    async def test_killed_before_the_hold(self, services: World, tenant: str) -> None:
        wallet = await funded(services.http, tenant)
        op = await withdrawn_without(services, tenant, wallet["id"], "ledger_url")
        assert (op["status"], op["ledger_transaction_id"]) == ("pending", None)
        assert (await restarted_and_recovered(services, tenant, op["id"]))["status"] == "succeeded"
        assert (await balance(services.http, wallet["id"], key(tenant)))["posted"] == 600
        await settled_once(services, tenant, op, paid=True)

    async def test_killed_between_the_hold_and_the_payout(
        self, services: World, tenant: str
    ) -> None:
        wallet = await funded(services.http, tenant)
        op = await withdrawn_without(services, tenant, wallet["id"], "payments_url")
        assert op["status"] == "pending"
        assert op["ledger_transaction_id"] is not None
        assert (await balance(services.http, wallet["id"], key(tenant)))["available"] == 600
        assert await payouts(services, tenant) == []
        assert (await restarted_and_recovered(services, tenant, op["id"]))["status"] == "succeeded"
        await settled_once(services, tenant, op, paid=True)

    async def test_the_payout_answer_lost_to_a_timeout(self, services: World, tenant: str) -> None:
        wallet = await funded(services.http, tenant)
        op = await withdrawn_answer_lost(services, tenant, wallet["id"])
        assert (op["status"], op["payout"]) == ("pending", None)
        # Payments did pay it: only the answer was lost.
        assert [p["status"] for p in await payouts(services, tenant)] == ["paid"]
        assert (await restarted_and_recovered(services, tenant, op["id"]))["status"] == "succeeded"
        await settled_once(services, tenant, op, paid=True)

    async def test_the_payout_news_first_then_twice(self, services: World, tenant: str) -> None:
        wallet = await funded(services.http, tenant)
        op = await withdrawn_answer_lost(services, tenant, wallet["id"])
        [payout] = await payouts(services, tenant)
        # The payout's news reaches the wallet before any answer did, and then again.
        state = services.app.state
        first, second = await asyncio.gather(
            withdrawals.on_payout(state, op["id"], payout["id"]),
            withdrawals.on_payout(state, op["id"], payout["id"]),
        )
        third = await withdrawals.on_payout(state, op["id"], payout["id"])
        assert [row.status for row in (first, second, third)] == [
            "succeeded", "succeeded", "succeeded",
        ]  # fmt: skip
        # ...and the recovery job and a late driver find nothing left to do.
        await recover_once(state, grace=0)
        await withdrawals.drive(state, op["id"])
        assert (await operation(services.http, tenant, op["id"]))["payout"] == payout["id"]
        assert (await balance(services.http, wallet["id"], key(tenant)))["posted"] == 600
        await settled_once(services, tenant, op, paid=True)

    async def test_the_payout_event_alone_settles_a_lost_answer(
        self, services: World, tenant: str
    ) -> None:
        wallet = await funded(services.http, tenant)
        # The process that loses the answer is not the one that hears the news.
        op = await withdrawn_answer_lost(services, tenant, wallet["id"], follow_events=False)
        assert op["status"] == "pending"
        # No recovery round: payments' payout.paid event, read from the stream, settles it.
        found = await settled(services.http, op["id"], key(tenant))
        assert found["status"] == "succeeded"
        await settled_once(services, tenant, op, paid=True)

    async def test_killed_after_the_ledger_posting_before_the_record(
        self, services: World, tenant: str
    ) -> None:
        wallet = await funded(services.http, tenant)
        op = await withdrawn_without(services, tenant, wallet["id"], "payments_url")
        # Another process got as far as posting the hold, then died before writing it down.
        async with wallet_app(services.settings) as other:
            await other.state.ledger.post_pending(Scope(tenant, False), op["ledger_transaction_id"])
        assert (await restarted_and_recovered(services, tenant, op["id"]))["status"] == "succeeded"
        await settled_once(services, tenant, op, paid=True)

    async def test_a_failed_payout_after_a_crash_voids_once(
        self, services: World, tenant: str
    ) -> None:
        wallet = await funded(services.http, tenant)
        op = await withdrawn_without(
            services, tenant, wallet["id"], "payments_url", destination=FAILING_BANK
        )
        async with wallet_app(services.settings) as other:
            await other.state.ledger.void_pending(Scope(tenant, False), op["ledger_transaction_id"])
        found = await restarted_and_recovered(services, tenant, op["id"])
        assert (found["status"], found["failure_code"]) == ("failed", "account_closed")
        assert (await balance(services.http, wallet["id"], key(tenant)))["available"] == 1000
        await settled_once(services, tenant, op, paid=False)


async def test_a_day_old_withdrawal_finds_its_payout_rather_than_paying_twice(
    pg: PostgresHandle, templates: dict[str, str], redis_url: str
) -> None:
    tenant = new_tenant()
    # A world that hears no events: only the recovery job finishes what was left.
    async with world(pg, templates, redis_url, follow_events=False) as quiet:
        wallet = await funded(quiet.http, tenant)
        op = await withdrawn_answer_lost(quiet, tenant, wallet["id"])
        assert (op["status"], op["payout"]) == ("pending", None)
        # A day on, payments no longer keeps the answer to the payout's Idempotency-Key.
        conn = await asyncpg.connect(quiet.ups.payments_db)
        try:
            await conn.execute("DELETE FROM idempotency_keys WHERE key = $1", f"wallet-{op['id']}")
        finally:
            await conn.close()
        later = quiet.settings.model_copy(update={"payout_lookup_after": 0})
        async with wallet_app(later) as recovering:
            await recover_once(recovering.state, grace=0)
        found = await operation(quiet.http, tenant, op["id"])
        assert found["status"] == "succeeded"
        [payout] = await payouts(quiet, tenant)
        assert found["payout"] == payout["id"]
        assert (await balance(quiet.http, wallet["id"], key(tenant)))["posted"] == 600
