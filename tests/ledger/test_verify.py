"""`GET /ledger/verify`: every balance recomputed from its history, for platform admins;
and history that the database itself refuses to rewrite."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from tests.conftest import CreateDb, ServiceClient
from tests.support.asgi import identity_headers
from tests.support.ledger import (
    TENANT,
    as_platform_admin,
    as_tenant,
    assert_error,
    assert_verified,
    fund_wallet,
    hold,
    open_books,
    snapshot,
    transfer,
)
from tests.support.servers import owner_dsn


class TestVerify:
    async def test_needs_a_platform_admin(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/ledger/verify", headers=as_tenant())
        error = assert_error(response, 403, "role_required", None)
        assert error["type"] == "permission_error"
        admin_of_a_tenant = identity_headers(
            tenant_id=TENANT, principal_type="user", role="TENANT_ADMIN"
        )
        response = await client.get("/ledger/verify", headers=admin_of_a_tenant)
        assert_error(response, 403, "role_required", None)

    async def test_unauthenticated(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/ledger/verify")
        assert_error(response, 401, "identity_missing", None)

    async def test_history_cannot_be_rewritten(
        self, create_db: CreateDb, service_client: ServiceClient
    ) -> None:
        dsn = await create_db("ledger")
        async with service_client("ledger", database_url=dsn, sweep_interval=60) as client:
            books = await open_books(client)
            await fund_wallet(client, 1000)
            held = await hold(client, 100)
            voided = await client.post(
                f"/ledger/transactions/{held['id']}/void", headers=as_tenant()
            )
            assert voided.status_code == 200, voided.text
            before = await snapshot(client, books)
            # The owner, whom grants do not stop (the app's role: tests/test_db_roles.py),
            # still meets the append-only triggers.
            conn = await asyncpg.connect(owner_dsn(dsn))
            try:
                for statement in (
                    "UPDATE entries SET amount = 1",
                    "DELETE FROM entries",
                    "DELETE FROM transactions",
                    "UPDATE transactions SET description = 'edited'",
                    "TRUNCATE entries CASCADE",
                    "DELETE FROM resolutions",
                ):
                    with pytest.raises(asyncpg.PostgresError, match="append-only"):
                        await conn.execute(statement)
            finally:
                await conn.close()
            assert await snapshot(client, books) == before
            await assert_verified(client)

    async def test_reports_tampered_running_totals(
        self, create_db: CreateDb, service_client: ServiceClient
    ) -> None:
        dsn = await create_db("ledger")
        async with service_client("ledger", database_url=dsn, sweep_interval=60) as client:
            books = await open_books(client)
            await fund_wallet(client, 1000)
            await assert_verified(client)
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute(
                    "UPDATE accounts SET credits_posted = credits_posted + 1 WHERE id = $1",
                    books["wallet"],
                )
            finally:
                await conn.close()
            response = await client.get("/ledger/verify", headers=as_platform_admin())
            assert response.status_code == 200, response.text
            report = response.json()
            assert report["ok"] is False
            kinds = {(d["kind"], d.get("account_id")) for d in report["discrepancies"]}
            assert ("account_totals", books["wallet"]) in kinds

    async def test_reports_each_way_a_transaction_can_fail_to_balance(
        self, create_db: CreateDb, service_client: ServiceClient
    ) -> None:
        """Entries the database's zero-sum rule was switched off for (by the owner, the one
        role that can): too much on one side; debits and credits equal but in two currencies;
        equal but one side posted and the other pending. Each is found and reported by
        currency, and balanced transactions are not."""
        dsn = await create_db("ledger")
        async with service_client("ledger", database_url=dsn, sweep_interval=60) as client:
            books = await open_books(client)
            made = []
            for n in range(4):
                made.append(
                    await transfer(
                        client,
                        as_tenant(),
                        debit="cash",
                        credit="sales",
                        amount=100,
                        reference_id=f"t{n}",
                    )
                )
            one_side, two_currencies, pending_side, fine = (t["id"] for t in made)
            conn = await asyncpg.connect(owner_dsn(dsn))
            try:
                # Each statement its own transaction: a table with trigger events pending
                # at commit cannot be altered.
                await conn.execute("ALTER TABLE entries DISABLE TRIGGER entries_sum_to_zero")
                for n, (txn, account, direction, amount, currency, pending) in enumerate(
                    [
                        (one_side, books["cash"], "debit", 5, "usd", False),
                        (two_currencies, books["cash_eur"], "debit", 40, "eur", False),
                        (two_currencies, books["cash"], "credit", 40, "usd", False),
                        (pending_side, books["cash"], "debit", 7, "usd", False),
                        (pending_side, books["sales"], "credit", 7, "usd", True),
                    ]
                ):
                    await conn.execute(
                        "INSERT INTO entries (id, transaction_id, account_id, direction, "
                        "amount, currency, pending, balance_after, version_after) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0)",
                        f"ent_tampered{n}",
                        txn,
                        account,
                        direction,
                        amount,
                        currency,
                        pending,
                    )
                await conn.execute("ALTER TABLE entries ENABLE TRIGGER entries_sum_to_zero")
            finally:
                await conn.close()
            response = await client.get("/ledger/verify", headers=as_platform_admin())
            assert response.status_code == 200, response.text
            found = sorted(
                (d["transaction_id"], d["currency"], d["difference"])
                for d in response.json()["discrepancies"]
                if d["kind"] == "unbalanced_transaction"
            )
            assert found == sorted(
                [
                    (one_side, "usd", 5),
                    (two_currencies, "eur", 40),
                    (two_currencies, "usd", -40),
                    (pending_side, "usd", 7),
                    (pending_side, "usd", -7),
                ]
            )
            assert fine not in {transaction for transaction, _, _ in found}
