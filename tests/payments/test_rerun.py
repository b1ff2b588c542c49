"""A keyed create or confirm whose process died after its commit, before its answer was
stored (a SIGKILLed replica): the client's retry under the same key takes the claim over
once its lease lapses (shared/idempotency.py) and is answered with what the first run made,
not with a second intent or a "cannot confirm a succeeded intent" refusal.

The crash is written into the database as it leaves it: the change committed, the key's
row still `in_flight`, claimed by a process that no longer renews it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from shared.idempotency import _hash
from tests.conftest import ServiceClient
from tests.support.asgi import identity_headers
from tests.support.payments import payments_client

BASE = "/payments/payment_intents"
TENANT = "ten_rerun"
CARD = {"amount": 4200, "currency": "usd", "payment_method": "pm_card_visa"}


def keyed(key: str) -> dict[str, str]:
    return {**identity_headers(tenant_id=TENANT), "Idempotency-Key": key}


@pytest.fixture
async def client(service_client: ServiceClient, dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    async with payments_client(service_client, dsn, relay_interval=3600) as http:
        yield http


async def crashed_before_answering(dsn: str, key: str) -> None:
    """The key's answer never stored, its claim held by a dead process for a minute."""
    conn = await asyncpg.connect(dsn)
    try:
        done = await conn.execute(
            "UPDATE idempotency_keys SET status = 'in_flight', response_status = NULL, "
            "response_type = NULL, response_body = NULL, locked_by = 'gone:1:dead', "
            "locked_at = now() - interval '1 minute' WHERE tenant_id = $1 AND key = $2",
            TENANT,
            key,
        )
        assert done == "UPDATE 1"
    finally:
        await conn.close()


async def forget_answer(dsn: str, key: str) -> None:
    """The key's stored answer purged, as it is after a day."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DELETE FROM idempotency_keys WHERE key = $1", key)
    finally:
        await conn.close()


async def intents_of(dsn: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id, status FROM payment_intents WHERE tenant_id = $1 ORDER BY id", TENANT
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]


@pytest.mark.parametrize("confirm", [False, True])
async def test_a_retried_create_gets_the_intent_its_dead_first_run_made(
    client: httpx.AsyncClient, dsn: str, confirm: bool
) -> None:
    first = await client.post(BASE, json={**CARD, "confirm": confirm}, headers=keyed("make-1"))
    assert first.status_code == 200, first.text
    await crashed_before_answering(dsn, "make-1")
    retry = await client.post(BASE, json={**CARD, "confirm": confirm}, headers=keyed("make-1"))
    assert retry.status_code == 200, retry.text
    assert "idempotent-replayed" not in retry.headers  # run again, not replayed
    assert (retry.json()["id"], retry.json()["status"]) == (
        first.json()["id"],
        first.json()["status"],
    )
    assert [r["id"] for r in await intents_of(dsn)] == [first.json()["id"]]


async def test_a_retried_create_confirms_when_its_first_run_died_before_confirming(
    client: httpx.AsyncClient, dsn: str
) -> None:
    body = {**CARD, "confirm": True}
    # What the first run of a create-and-confirm left when it died between the two: the
    # intent committed under its key, not confirmed, the key still claimed.
    made = await client.post(BASE, json=CARD, headers=keyed("make-2"))
    assert made.json()["status"] == "requires_confirmation"
    scope = {"method": "POST", "path": BASE, "headers": [(b"content-type", b"application/json")]}
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "UPDATE idempotency_keys SET status = 'in_flight', request_hash = $2, "
            "response_status = NULL, response_type = NULL, response_body = NULL, "
            "locked_by = 'gone:1:dead', locked_at = now() - interval '1 minute' "
            "WHERE tenant_id = $1 AND key = 'make-2'",
            TENANT,
            _hash(scope, json.dumps(body).encode()),
        )
    finally:
        await conn.close()
    retry = await client.post(BASE, json=body, headers=keyed("make-2"))
    assert retry.status_code == 200, retry.text
    assert (retry.json()["id"], retry.json()["status"]) == (made.json()["id"], "succeeded")
    assert await intents_of(dsn) == [{"id": made.json()["id"], "status": "succeeded"}]


async def test_a_retried_confirm_gets_the_intent_its_dead_first_run_confirmed(
    client: httpx.AsyncClient, dsn: str
) -> None:
    made = await client.post(BASE, json=CARD, headers=keyed("make-3"))
    path = f"{BASE}/{made.json()['id']}/confirm"
    first = await client.post(path, json={}, headers=keyed("confirm-3"))
    assert first.json()["status"] == "succeeded", first.text
    await crashed_before_answering(dsn, "confirm-3")
    retry = await client.post(path, json={}, headers=keyed("confirm-3"))
    assert retry.status_code == 200, retry.text
    assert (retry.json()["id"], retry.json()["status"]) == (made.json()["id"], "succeeded")
    # A confirm of the succeeded intent under a new key is still refused, as Stripe does.
    again = await client.post(path, json={}, headers=keyed("confirm-3b"))
    assert again.json()["error"]["code"] == "payment_intent_unexpected_state"


async def test_a_key_reused_after_its_answer_was_purged_is_refused(
    client: httpx.AsyncClient, dsn: str
) -> None:
    first = await client.post(BASE, json=CARD, headers=keyed("make-4"))
    assert first.status_code == 200
    await forget_answer(dsn, "make-4")
    reused = await client.post(BASE, json=CARD, headers=keyed("make-4"))
    assert reused.status_code == 400, reused.text
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert [r["id"] for r in await intents_of(dsn)] == [first.json()["id"]]


_COUNTS = {
    "refunds": "SELECT count(*) FROM refunds WHERE tenant_id = $1",
    "payouts": "SELECT count(*) FROM payouts WHERE tenant_id = $1",
}


async def count_rows(dsn: str, table: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(_COUNTS[table], TENANT))
    finally:
        await conn.close()


async def test_a_retried_refund_gets_the_refund_its_dead_first_run_made(
    client: httpx.AsyncClient, dsn: str
) -> None:
    paid = await client.post(BASE, json={**CARD, "confirm": True}, headers=keyed("pay-5"))
    body = {"payment_intent": paid.json()["id"]}  # the whole amount: nothing left after it
    first = await client.post("/payments/refunds", json=body, headers=keyed("refund-5"))
    assert first.status_code == 200, first.text
    await crashed_before_answering(dsn, "refund-5")
    retry = await client.post("/payments/refunds", json=body, headers=keyed("refund-5"))
    assert retry.status_code == 200, retry.text
    assert retry.json()["id"] == first.json()["id"]
    assert await count_rows(dsn, "refunds") == 1


async def test_a_retried_payout_gets_the_payout_its_dead_first_run_made(
    client: httpx.AsyncClient, dsn: str
) -> None:
    bank = {"account_number": "0123456789", "bank_code": "058", "account_name": "Ada Obi"}
    body = {"amount": 1000, "currency": "usd", "destination": bank}
    first = await client.post("/payments/payouts", json=body, headers=keyed("payout-6"))
    assert first.status_code == 200, first.text
    await crashed_before_answering(dsn, "payout-6")
    retry = await client.post("/payments/payouts", json=body, headers=keyed("payout-6"))
    assert retry.status_code == 200, retry.text
    assert retry.json()["id"] == first.json()["id"]
    assert await count_rows(dsn, "payouts") == 1


_IDS = {
    "customers": "SELECT id FROM customers WHERE tenant_id = $1 ORDER BY id",
    "payment_methods": "SELECT id FROM payment_methods WHERE tenant_id = $1 ORDER BY id",
}


async def rows_of(dsn: str, table: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(_IDS[table], TENANT)
    finally:
        await conn.close()
    return [r["id"] for r in rows]


async def test_a_retried_customer_create_and_attach_make_one_each(
    client: httpx.AsyncClient, dsn: str
) -> None:
    first = await client.post(
        "/payments/customers", json={"email": "ada@example.com"}, headers=keyed("cus-1")
    )
    assert first.status_code == 200, first.text
    await crashed_before_answering(dsn, "cus-1")
    retry = await client.post(
        "/payments/customers", json={"email": "ada@example.com"}, headers=keyed("cus-1")
    )
    assert retry.status_code == 200, retry.text
    assert "idempotent-replayed" not in retry.headers
    assert retry.json() == first.json()
    assert await rows_of(dsn, "customers") == [first.json()["id"]]

    url, body = "/payments/payment_methods/pm_card_visa/attach", {"customer": first.json()["id"]}
    attached = await client.post(url, json=body, headers=keyed("attach-1"))
    assert attached.status_code == 200, attached.text
    await crashed_before_answering(dsn, "attach-1")
    again = await client.post(url, json=body, headers=keyed("attach-1"))
    assert again.json() == attached.json()
    assert await rows_of(dsn, "payment_methods") == [attached.json()["id"]]

    # The key back for another request once its answer was purged: refused.
    await forget_answer(dsn, "cus-1")
    reused = await client.post(
        "/payments/customers", json={"email": "bola@example.com"}, headers=keyed("cus-1")
    )
    assert reused.status_code == 400
    assert reused.json()["error"]["type"] == "idempotency_error"
    assert await rows_of(dsn, "customers") == [first.json()["id"]]
