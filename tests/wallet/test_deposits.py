"""Deposits over a real ledger and payments: a card payment credits the wallet once, a
refund takes it back, a payment made straight through payments shows in the history."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlparse

import asyncpg
import httpx
import pytest

from cli.stack.ports import free_port
from services.wallet.service import returns
from services.wallet.service.recovery import recover_once
from tests.support.asgi import identity_headers
from tests.support.wallet import (
    BAD_AMOUNTS,
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
    settled,
    wallet_app,
)


async def recover(services: World) -> int:
    return await recover_once(services.app.state, grace=0)


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
        found = await settled(http, op["id"], key(tenant), nudge=lambda: recover(services))
        assert found["status"] == "succeeded"
        assert (await balance(http, wallet["id"], key(tenant)))["available"] == 700

    async def test_a_deposit_payments_never_saw_is_made_by_the_recovery_job(
        self, services: World, http: httpx.AsyncClient, tenant: str
    ) -> None:
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
            found = await settled(http, op["id"], key(tenant), nudge=lambda: recover(services))
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


async def test_a_refund_payments_failed_ends_failed_in_the_wallet_with_its_reason(
    services: World, http: httpx.AsyncClient, tenant: str
) -> None:
    wallet = await create_wallet(http, key(tenant))
    deposited = await fund(http, wallet["id"], 1000, key(tenant))
    # A refund as payments leaves one whose posting the ledger refused for good (the wallet
    # was emptied between payments' funds check and the posting, as
    # tests/payments/test_refund_ledger.py makes happen): failed, with its reason, and
    # never in the ledger.
    conn = await asyncpg.connect(services.ups.payments_db)
    try:
        await conn.execute(
            "INSERT INTO refunds (id, tenant_id, livemode, payment_intent_id, amount, currency, "
            "status, provider, failure_reason) VALUES ('re_emptied', $1, false, $2, 400, 'usd', "
            "'failed', 'simulator', 'insufficient_funds')",
            tenant,
            deposited["payment_intent"],
        )
    finally:
        await conn.close()
    # The wallet heard the refund announced succeeded first and recorded it.
    row = await returns.record_refund(
        services.app.state,
        {"id": "re_emptied", "payment_intent": deposited["payment_intent"], "amount": 400},
    )
    assert row is not None
    # Terminal with payments' reason, instead of waiting on the ledger for ever.
    assert (row.status, row.failure_code) == ("failed", "insufficient_funds")
    assert await recover(services) == 0
    [line] = [x for x in await history(http, wallet["id"], key(tenant)) if x["type"] == "refund"]
    assert line["status"] == "failed"
    assert (await balance(http, wallet["id"], key(tenant)))["posted"] == 1000
    assert "wallet.refund.failed" in [e["type"] for e in await events(services.wallet_db, tenant)]
    # Heard again (its refund.failed event): nothing changes.
    again = await returns.refund_failed(
        services.app.state, {"id": "re_emptied"}, tenant_id=tenant, livemode=False
    )
    assert again is not None
    assert again.status == "failed"


async def test_a_refund_whose_posting_the_ledger_refused_ends_failed_in_the_wallet(
    services: World, http: httpx.AsyncClient, tenant: str
) -> None:
    wallet = await create_wallet(http, key(tenant))
    deposited = await fund(http, wallet["id"], 1000, key(tenant))
    # A provider's refund confirmed in payments, whose posting out of the wallet the ledger
    # refused for good (the wallet emptied meanwhile): it stays succeeded in payments (the
    # money did go back), and payments announces the refused posting.
    conn = await asyncpg.connect(services.ups.payments_db)
    try:
        await conn.execute(
            "INSERT INTO refunds (id, tenant_id, livemode, payment_intent_id, amount, currency, "
            "status, provider) VALUES ('re_refused', $1, false, $2, 400, 'usd', 'succeeded', "
            "'paystack')",
            tenant,
            deposited["payment_intent"],
        )
    finally:
        await conn.close()
    state = services.app.state
    row = await returns.record_refund(
        state, {"id": "re_refused", "payment_intent": deposited["payment_intent"], "amount": 400}
    )
    assert row is not None
    assert row.status == "pending"  # waiting for the posting
    refusal = {"code": "insufficient_funds", "message": "The wallet holds too little."}
    done = await returns.posting_refused(
        state, {"reference_id": "re_refused", "failure": refusal}, tenant_id=tenant,
        livemode=False,
    )  # fmt: skip
    assert done is not None
    assert (done.status, done.failure_code) == ("failed", "insufficient_funds")
    assert await recover(services) == 0
    assert (await balance(http, wallet["id"], key(tenant)))["posted"] == 1000
    # Another tenant's word about it changes nothing.
    assert (
        await returns.posting_refused(
            state, {"reference_id": "re_refused"}, tenant_id="ten_other", livemode=False
        )
        is None
    )


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
