"""Transfers over a real ledger: one atomic posting between two wallets, never below zero,
never twice, finished by the recovery job when the ledger missed it."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import asyncpg
import httpx
import pytest

from cli.stack.ports import free_port
from tests.support.metrics import value
from tests.support.wallet import (
    BAD_AMOUNTS,
    World,
    balance,
    create_wallet,
    events,
    fund,
    history,
    key,
    ledger_transactions,
    new_tenant,
    settled,
    transfer,
    user,
    verify_ledger,
    wallet_app,
)


class TestTransfer:
    async def test_one_atomic_posting_between_two_wallets(
        self, services: World, http: httpx.AsyncClient, tenant: str
    ) -> None:
        ada = await create_wallet(http, key(tenant), owner="ada")
        bob = await create_wallet(http, key(tenant), owner="bob")
        await fund(http, ada["id"], 1000, key(tenant))
        response = await transfer(http, key(tenant), ada["id"], bob["id"], 350,
                                  description="rent")  # fmt: skip
        assert response.status_code == 200, response.text
        op = response.json()
        assert (op["type"], op["status"], op["from_wallet_id"], op["to_wallet_id"]) == (
            "transfer", "succeeded", ada["id"], bob["id"],
        )  # fmt: skip
        [posting] = await ledger_transactions(services.ups, op["id"], tenant)
        assert posting["id"] == op["ledger_transaction_id"]
        assert (await balance(http, ada["id"], key(tenant)))["available"] == 650
        assert (await balance(http, bob["id"], key(tenant)))["available"] == 350
        out = (await history(http, ada["id"], key(tenant)))[0]
        into = (await history(http, bob["id"], key(tenant)))[0]
        assert (out["type"], out["counterparty"], out["net"], out["balance_after"]) == (
            "transfer_out", bob["id"], -350, 650,
        )  # fmt: skip
        assert (into["type"], into["counterparty"], into["net"], into["balance_after"]) == (
            "transfer_in", ada["id"], 350, 350,
        )  # fmt: skip
        assert out["description"] == "rent"
        types = [e["type"] for e in await events(services.wallet_db, tenant)]
        assert types.count("wallet.transfer.completed") == 1

    async def test_not_enough_funds_is_402_and_nothing_moves(
        self, http: httpx.AsyncClient, tenant: str
    ) -> None:
        ada = await create_wallet(http, key(tenant))
        bob = await create_wallet(http, key(tenant))
        await fund(http, ada["id"], 100, key(tenant))
        response = await transfer(http, key(tenant), ada["id"], bob["id"], 101)
        assert response.status_code == 402
        error = response.json()["error"]
        assert (error["code"], error["operation"]["status"]) == ("insufficient_funds", "failed")
        assert (await balance(http, ada["id"], key(tenant)))["posted"] == 100
        assert (await balance(http, bob["id"], key(tenant)))["posted"] == 0

    async def test_a_frozen_wallet_cannot_send_but_can_receive(
        self, http: httpx.AsyncClient, tenant: str
    ) -> None:
        ada = await create_wallet(http, key(tenant))
        bob = await create_wallet(http, key(tenant))
        await fund(http, ada["id"], 500, key(tenant))
        await fund(http, bob["id"], 500, key(tenant))
        await http.post(f"/wallet/{ada['id']}/freeze", headers=key(tenant))
        refused = await transfer(http, key(tenant), ada["id"], bob["id"], 10)
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "wallet_frozen"
        assert (await transfer(http, key(tenant), bob["id"], ada["id"], 10)).status_code == 200
        assert (await balance(http, ada["id"], key(tenant)))["posted"] == 510

    async def test_currencies_must_match(self, http: httpx.AsyncClient, tenant: str) -> None:
        ada = await create_wallet(http, key(tenant), currency="usd")
        bob = await create_wallet(http, key(tenant), currency="eur")
        await fund(http, ada["id"], 500, key(tenant))
        response = await transfer(http, key(tenant), ada["id"], bob["id"], 10)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "currency_mismatch"
        assert await history(http, bob["id"], key(tenant)) == []

    async def test_one_wallet_on_both_sides_is_400(
        self, http: httpx.AsyncClient, tenant: str
    ) -> None:
        ada = await create_wallet(http, key(tenant))
        response = await transfer(http, key(tenant), ada["id"], ada["id"], 10)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "to_wallet_id"

    @pytest.mark.parametrize("amount", BAD_AMOUNTS)
    async def test_bad_amounts_are_400(
        self, http: httpx.AsyncClient, tenant: str, amount: Any
    ) -> None:
        ada = await create_wallet(http, key(tenant))
        bob = await create_wallet(http, key(tenant))
        response = await transfer(http, key(tenant), ada["id"], bob["id"], amount)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "amount"
        assert await history(http, ada["id"], key(tenant)) == []

    async def test_missing_fields_are_400(self, http: httpx.AsyncClient, tenant: str) -> None:
        cases: list[tuple[dict[str, Any], str]] = [
            ({}, "from_wallet_id"),
            ({"from_wallet_id": "wal_a"}, "to_wallet_id"),
            ({"from_wallet_id": "wal_a", "to_wallet_id": "wal_b"}, "amount"),
        ]
        for body, param in cases:
            response = await http.post("/wallet/transfer", json=body, headers=key(tenant))
            assert response.status_code == 400
            error = response.json()["error"]
            assert (error["code"], error["param"]) == ("parameter_missing", param)
        not_json = await http.post(
            "/wallet/transfer", content=b"{nope", headers={**key(tenant),
                                                           "Content-Type": "application/json"}
        )  # fmt: skip
        assert not_json.status_code == 400

    async def test_unknown_and_foreign_wallets_are_404(
        self, http: httpx.AsyncClient, tenant: str
    ) -> None:
        ada = await create_wallet(http, key(tenant))
        await fund(http, ada["id"], 100, key(tenant))
        foreign = await create_wallet(http, key(new_tenant()))
        for source, target, param in (
            ("wal_nope", ada["id"], "from_wallet_id"),
            (ada["id"], "wal_nope", "to_wallet_id"),
            (ada["id"], foreign["id"], "to_wallet_id"),
            (foreign["id"], ada["id"], "from_wallet_id"),
        ):
            response = await transfer(http, key(tenant), source, target, 10)
            assert response.status_code == 404
            assert response.json()["error"]["param"] == param
        assert (await balance(http, ada["id"], key(tenant)))["posted"] == 100

    async def test_a_user_sends_from_its_own_wallet_to_anyone_in_the_tenant(
        self, http: httpx.AsyncClient, tenant: str
    ) -> None:
        ada = await create_wallet(http, user("usr_ada", tenant), owner=None)
        bob = await create_wallet(http, user("usr_bob", tenant), owner=None)
        await fund(http, ada["id"], 100, user("usr_ada", tenant))
        sent = await transfer(http, user("usr_ada", tenant), ada["id"], bob["id"], 40)
        assert sent.status_code == 200
        back = await transfer(http, user("usr_ada", tenant), bob["id"], ada["id"], 40)
        assert back.status_code == 404  # not ada's to send from
        op = sent.json()["id"]
        assert (
            await http.get(f"/wallet/operations/{op}", headers=user("usr_bob", tenant))
        ).status_code == 200
        assert (
            await http.get(f"/wallet/operations/{op}", headers=user("usr_eve", tenant))
        ).status_code == 404

    async def test_replays_and_concurrent_duplicates_move_money_once(
        self, services: World, http: httpx.AsyncClient, tenant: str
    ) -> None:
        ada = await create_wallet(http, key(tenant))
        bob = await create_wallet(http, key(tenant))
        await fund(http, ada["id"], 1000, key(tenant))
        headers = {**key(tenant), "Idempotency-Key": "pay-bob"}
        answers = await asyncio.gather(
            *(transfer(http, headers, ada["id"], bob["id"], 100) for _ in range(8))
        )
        assert {a.status_code for a in answers} <= {200, 409}
        ids = {a.json()["id"] for a in answers if a.status_code == 200}
        assert len(ids) == 1
        again = await transfer(http, headers, ada["id"], bob["id"], 100)
        assert again.json()["id"] in ids
        assert (await balance(http, bob["id"], key(tenant)))["posted"] == 100
        assert len(await ledger_transactions(services.ups, ids.pop(), tenant)) == 1


async def test_a_hundred_concurrent_transfers_drain_one_wallet_exactly(
    services: World, http: httpx.AsyncClient, tenant: str
) -> None:
    headers = key(tenant)
    source = await create_wallet(http, headers, owner="drained")
    targets = [await create_wallet(http, headers, owner=f"t{i}") for i in range(5)]
    await fund(http, source["id"], 5000, headers)
    rng = random.Random(7)
    seen: list[int] = []

    async def watch() -> None:
        # The balance as clients see it while the transfers run.
        while True:
            seen.append((await balance(http, source["id"], headers))["available"])
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    answers = await asyncio.gather(
        *(transfer(http, headers, source["id"], rng.choice(targets)["id"], 70) for _ in range(100))
    )
    watcher.cancel()
    assert seen
    assert min(seen) >= 0
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {200, 402}, {a.text for a in answers if a.status_code not in (200, 402)}
    assert statuses.count(200) == 5000 // 70
    wallets = [source, *targets]
    balances = {w["id"]: await balance(http, w["id"], headers) for w in wallets}
    assert all(b["available"] >= 0 and b["posted"] >= 0 for b in balances.values())
    assert balances[source["id"]]["posted"] == 5000 - 70 * (5000 // 70)
    assert sum(b["posted"] for b in balances.values()) == 5000
    for wallet in wallets:
        lines = await history(http, wallet["id"], headers)
        done = [line for line in lines if line["status"] == "succeeded"]
        assert sum(line["net"] for line in done) == balances[wallet["id"]]["posted"]
        # Each movement's balance_after is the ledger's running balance: all distinct, and
        # the latest is the balance now.
        afters = [line["balance_after"] for line in done]
        assert len(set(afters)) == len(afters)
        running = sorted(afters, reverse=wallet is source)
        assert running[-1] == balances[wallet["id"]]["posted"]
    report = await verify_ledger(services.ups)
    assert report["ok"], report["discrepancies"]


async def test_a_transfer_the_ledger_missed_is_finished_by_the_recovery_job(
    services: World, http: httpx.AsyncClient, tenant: str
) -> None:
    ada = await create_wallet(http, key(tenant))
    bob = await create_wallet(http, key(tenant))
    await fund(http, ada["id"], 500, key(tenant))
    down = services.settings.model_copy(update={"ledger_url": f"http://127.0.0.1:{free_port()}"})
    async with wallet_app(down) as cut_off:
        response = await transfer(cut_off.http, key(tenant), ada["id"], bob["id"], 200)
    op = response.json()
    assert (response.status_code, op["status"]) == (200, "pending")
    assert (await balance(http, bob["id"], key(tenant)))["posted"] == 0
    # What an operator sees meanwhile: a posting owed to the ledger, and its age.
    owed = await value(http, "micro_ledger_postings_pending", service="wallet")
    assert owed >= 1
    assert await value(http, "micro_ledger_postings_oldest_pending_seconds", service="wallet") > 0
    # A process whose recovery job runs on its own, soon.
    quick = services.settings.model_copy(update={"recovery_interval": 0.1})
    async with wallet_app(quick):
        found = await settled(http, op["id"], key(tenant))
    assert found["status"] == "succeeded"
    assert await value(http, "micro_ledger_postings_pending", service="wallet") <= owed - 1
    assert (await balance(http, bob["id"], key(tenant)))["posted"] == 200
    assert len(await ledger_transactions(services.ups, op["id"], tenant)) == 1
    assert [line["status"] for line in await history(http, bob["id"], key(tenant))] == ["succeeded"]


async def test_a_request_run_again_after_its_stored_answer_was_lost_resumes_it(
    services: World, http: httpx.AsyncClient, tenant: str
) -> None:
    ada = await create_wallet(http, key(tenant))
    bob = await create_wallet(http, key(tenant))
    await fund(http, ada["id"], 1000, key(tenant))
    headers = {**key(tenant), "Idempotency-Key": "again-1"}

    async def forget_the_answer() -> None:
        # What a process killed mid-request leaves: the key's answer never stored.
        conn = await asyncpg.connect(services.wallet_db)
        try:
            await conn.execute("DELETE FROM idempotency_keys WHERE key = 'again-1'")
        finally:
            await conn.close()

    first = (await transfer(http, headers, ada["id"], bob["id"], 100)).json()
    await forget_the_answer()
    again = await transfer(http, headers, ada["id"], bob["id"], 100)
    assert (again.status_code, again.json()["id"]) == (200, first["id"])
    assert (await balance(http, bob["id"], key(tenant)))["posted"] == 100
    await forget_the_answer()
    other = await transfer(http, headers, ada["id"], bob["id"], 300)
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"
    assert (await balance(http, bob["id"], key(tenant)))["posted"] == 100
