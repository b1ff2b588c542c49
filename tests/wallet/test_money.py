"""Deposits and transfers over a real ledger and payments: every cent a ledger entry, once."""

from __future__ import annotations

import asyncio
import random
from typing import Any
from urllib.parse import urlparse

import asyncpg
import httpx
import pytest

from cli.stack.ports import free_port
from shared.money import MAX_AMOUNT
from tests.support.asgi import identity_headers
from tests.support.wallet import (
    World,
    balance,
    create_wallet,
    deposit,
    events,
    fund,
    history,
    key,
    ledger_transactions,
    new_tenant,
    user,
    verify_ledger,
    wallet_app,
)


async def transfer(
    http: httpx.AsyncClient, headers: dict[str, str], source: str, target: str, amount: Any,
    **extra: Any,
) -> httpx.Response:  # fmt: skip
    body = {"from_wallet_id": source, "to_wallet_id": target, "amount": amount, **extra}
    return await http.post("/wallet/transfer", json=body, headers=headers)


BAD_AMOUNTS = [0, -1, -500, MAX_AMOUNT + 1, 10**30, 12.5, "12.5", "ten", True, None, [1]]


class TestDeposit:
    async def test_a_card_deposit_credits_the_wallet_once(
        self, services: World, http: httpx.AsyncClient, tenant: str
    ) -> None:
        wallet = await create_wallet(http, key(tenant))
        op = await fund(http, wallet["id"], 2500, key(tenant))
        assert (op["object"], op["type"], op["amount"]) == ("wallet.operation", "deposit", 2500)
        assert op["payment_intent"].startswith("pi_")
        assert (await balance(http, wallet["id"], key(tenant)))["available"] == 2500
        [line] = await history(http, wallet["id"], key(tenant))
        assert (line["type"], line["status"], line["net"], line["balance_after"]) == (
            "deposit", "succeeded", 2500, 2500,
        )  # fmt: skip
        assert line["counterparty"] == op["payment_intent"]
        postings = await ledger_transactions(services.ups, op["payment_intent"], tenant)
        assert len(postings) == 1
        types = [e["type"] for e in await events(services.wallet_db, tenant)]
        assert types == ["wallet.created", "wallet.deposit.succeeded"]

    async def test_a_declined_card_is_402_and_credits_nothing(
        self, services: World, http: httpx.AsyncClient, tenant: str
    ) -> None:
        wallet = await create_wallet(http, key(tenant))
        response = await deposit(
            http, wallet["id"], 900, key(tenant), payment_method="pm_card_chargeDeclined"
        )
        assert response.status_code == 402, response.text
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("card_error", "card_declined")
        assert error["operation"]["status"] == "failed"
        assert (await balance(http, wallet["id"], key(tenant)))["posted"] == 0
        [line] = await history(http, wallet["id"], key(tenant))
        assert (line["status"], line["balance_after"]) == ("failed", None)
        types = [e["type"] for e in await events(services.wallet_db, tenant)]
        assert types == ["wallet.created", "wallet.deposit.failed"]

    async def test_an_authentication_finishes_later(
        self, services: World, http: httpx.AsyncClient, tenant: str
    ) -> None:
        from services.wallet.service.recovery import recover_once

        wallet = await create_wallet(http, key(tenant))
        response = await deposit(
            http, wallet["id"], 700, key(tenant), payment_method="pm_card_authenticationRequired"
        )
        op = response.json()
        assert (response.status_code, op["status"]) == (200, "pending"), op
        url = urlparse(op["next_action"]["redirect_to_url"]["url"])
        async with httpx.AsyncClient(base_url=services.ups.payments_url) as payments:
            done = await payments.post(
                f"{url.path}?{url.query}",
                data={"outcome": "approve"},
                # What the gateway hands a public door: an anonymous identity.
                headers=identity_headers(
                    tenant_id=None, principal="anonymous", principal_type="anonymous"
                ),
            )
            assert done.status_code == 200, done.text
        for _ in range(50):
            await recover_once(services.app.state, grace=0)
            found = (await http.get(f"/wallet/operations/{op['id']}", headers=key(tenant))).json()
            if found["status"] != "pending":
                break
            await asyncio.sleep(0.1)
        assert found["status"] == "succeeded"
        assert (await balance(http, wallet["id"], key(tenant)))["available"] == 700

    async def test_a_deposit_payments_never_saw_is_made_by_the_recovery_job(
        self, services: World, http: httpx.AsyncClient, tenant: str
    ) -> None:
        from services.wallet.service.recovery import recover_once

        wallet = await create_wallet(http, key(tenant))
        down = services.settings.model_copy(
            update={"payments_url": f"http://127.0.0.1:{free_port()}"}
        )
        async with wallet_app(down) as cut_off:
            response = await deposit(cut_off.http, wallet["id"], 800, key(tenant))
        op = response.json()
        assert (response.status_code, op["status"], op["payment_intent"]) == (200, "pending", None)
        await recover_once(services.app.state, grace=0)
        await recover_once(services.app.state, grace=0)
        found = (await http.get(f"/wallet/operations/{op['id']}", headers=key(tenant))).json()
        assert found["status"] == "succeeded"
        assert (await balance(http, wallet["id"], key(tenant)))["posted"] == 800
        assert len(await ledger_transactions(services.ups, found["payment_intent"], tenant)) == 1

    async def test_a_failed_deposit_paid_after_all_still_shows_the_money(
        self, services: World, http: httpx.AsyncClient, tenant: str
    ) -> None:
        from services.wallet.service.recovery import recover_once

        wallet = await create_wallet(http, key(tenant))
        op = (
            await deposit(http, wallet["id"], 650, key(tenant),
                          payment_method="pm_card_authenticationRequired")
        ).json()  # fmt: skip
        url = urlparse(op["next_action"]["redirect_to_url"]["url"])
        anonymous = identity_headers(
            tenant_id=None, principal="anonymous", principal_type="anonymous"
        )
        async with httpx.AsyncClient(base_url=services.ups.payments_url) as payments:
            failed = await payments.post(
                f"{url.path}?{url.query}", data={"outcome": "fail"}, headers=anonymous
            )
            assert failed.status_code == 200, failed.text
            # A background round (or the event follower) may hold the operation just now:
            # keep asking until one of them has finished it.
            for _ in range(50):
                await recover_once(services.app.state, grace=0)
                found = (
                    await http.get(f"/wallet/operations/{op['id']}", headers=key(tenant))
                ).json()
                if found["status"] != "pending":
                    break
                await asyncio.sleep(0.1)
            assert found["status"] == "failed"
            # The customer tries again with another card, straight through payments.
            again = await payments.post(
                f"/payments/payment_intents/{op['payment_intent']}/confirm",
                json={"payment_method": "pm_card_visa"},
                headers=key(tenant),
            )
            assert again.json()["status"] == "succeeded", again.text
        for _ in range(100):
            lines = await history(http, wallet["id"], key(tenant))
            if [line["status"] for line in lines] == ["succeeded", "failed"]:
                break
            await asyncio.sleep(0.1)
        assert [(line["status"], line["net"]) for line in lines] == [
            ("succeeded", 650), ("failed", 650),
        ]  # fmt: skip
        assert (await balance(http, wallet["id"], key(tenant)))["posted"] == 650
        assert lines[0]["balance_after"] == 650

    async def test_a_frozen_wallet_still_receives(
        self, http: httpx.AsyncClient, tenant: str
    ) -> None:
        wallet = await create_wallet(http, key(tenant))
        await http.post(f"/wallet/{wallet['id']}/freeze", headers=key(tenant))
        await fund(http, wallet["id"], 300, key(tenant))
        assert (await balance(http, wallet["id"], key(tenant)))["available"] == 300

    @pytest.mark.parametrize("amount", [*BAD_AMOUNTS, 100_000_000])
    async def test_bad_amounts_are_400(
        self, http: httpx.AsyncClient, tenant: str, amount: Any
    ) -> None:
        wallet = await create_wallet(http, key(tenant))
        response = await deposit(http, wallet["id"], amount, key(tenant))
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "amount"
        assert await history(http, wallet["id"], key(tenant)) == []

    @pytest.mark.parametrize(
        ("fields", "param"),
        [({"payment_method": "visa"}, "payment_method"), ({"provider": "Nope!"}, "provider"),
         ({"wallet_id": None}, "wallet_id"), ({"colour": "red"}, "colour")],
    )  # fmt: skip
    async def test_bad_fields_are_400(
        self, http: httpx.AsyncClient, tenant: str, fields: dict[str, Any], param: str
    ) -> None:
        wallet = await create_wallet(http, key(tenant))
        body = {"wallet_id": wallet["id"], "amount": 100, **fields}
        response = await http.post("/wallet/deposit", json=body, headers=key(tenant))
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param
        assert await history(http, wallet["id"], key(tenant)) == []

    async def test_unknown_and_foreign_wallets_are_404(
        self, http: httpx.AsyncClient, tenant: str
    ) -> None:
        foreign = await create_wallet(http, key(new_tenant()))
        for wallet_id in ("wal_nope", foreign["id"]):
            response = await deposit(http, wallet_id, 100, key(tenant))
            assert response.status_code == 404
            assert response.json()["error"]["param"] == "wallet_id"

    async def test_a_replayed_key_deposits_once(
        self, services: World, http: httpx.AsyncClient, tenant: str
    ) -> None:
        wallet = await create_wallet(http, key(tenant))
        headers = {**key(tenant), "Idempotency-Key": "dep-1"}
        first = await deposit(http, wallet["id"], 400, headers)
        again = await deposit(http, wallet["id"], 400, headers)
        assert again.json()["id"] == first.json()["id"]
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert (await balance(http, wallet["id"], key(tenant)))["posted"] == 400


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
    # A process whose recovery job runs on its own, soon.
    quick = services.settings.model_copy(update={"recovery_interval": 0.1})
    async with wallet_app(quick):
        for _ in range(100):
            found = (await http.get(f"/wallet/operations/{op['id']}", headers=key(tenant))).json()
            if found["status"] != "pending":
                break
            await asyncio.sleep(0.1)
    assert found["status"] == "succeeded"
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


async def test_a_refunded_deposit_shows_in_the_history(
    services: World, http: httpx.AsyncClient, tenant: str
) -> None:
    wallet = await create_wallet(http, key(tenant))
    deposited = await fund(http, wallet["id"], 1000, key(tenant))
    async with httpx.AsyncClient(base_url=services.ups.payments_url) as payments:
        refund = await payments.post(
            "/payments/refunds",
            json={"payment_intent": deposited["payment_intent"], "amount": 400},
            headers=key(tenant),
        )
    assert refund.status_code == 200, refund.text
    # payments announces the refund; the wallet hears it and finds the ledger posting.
    for _ in range(100):
        lines = await history(http, wallet["id"], key(tenant))
        if lines[0]["type"] == "refund" and lines[0]["status"] == "succeeded":
            break
        await asyncio.sleep(0.1)
    assert (lines[0]["type"], lines[0]["net"], lines[0]["balance_after"]) == (
        "refund", -400, 600,
    ), await _payments_ledger_errors(services)  # fmt: skip
    assert lines[0]["counterparty"] == refund.json()["id"]
    assert (await balance(http, wallet["id"], key(tenant)))["posted"] == 600
    assert sum(line["net"] for line in lines if line["status"] == "succeeded") == 600
    assert "wallet.refund.succeeded" in [
        e["type"] for e in await events(services.wallet_db, tenant)
    ]


async def _payments_ledger_errors(services: World) -> list[str]:
    """Why payments has not posted to the ledger, for a failure message."""
    conn = await asyncpg.connect(services.ups.payments_db)
    try:
        rows = await conn.fetch("SELECT last_error FROM ledger_outbox WHERE posted_at IS NULL")
    finally:
        await conn.close()
    return [str(row["last_error"]) for row in rows]


async def test_a_payment_made_for_a_wallet_straight_through_payments_shows_in_its_history(
    services: World, http: httpx.AsyncClient, tenant: str
) -> None:
    wallet = await create_wallet(http, key(tenant))
    async with httpx.AsyncClient(base_url=services.ups.payments_url) as payments:
        paid = await payments.post(
            "/payments/payment_intents",
            json={"amount": 1200, "currency": "usd", "wallet_id": wallet["id"],
                  "payment_method": "pm_card_visa", "confirm": True},
            headers=key(tenant),
        )  # fmt: skip
    assert paid.status_code == 200, paid.text
    for _ in range(100):
        lines = await history(http, wallet["id"], key(tenant))
        if lines and lines[0]["status"] == "succeeded":
            break
        await asyncio.sleep(0.1)
    [line] = lines
    assert (line["type"], line["net"], line["balance_after"], line["counterparty"]) == (
        "deposit", 1200, 1200, paid.json()["id"],
    )  # fmt: skip
    assert (await balance(http, wallet["id"], key(tenant)))["posted"] == 1200
