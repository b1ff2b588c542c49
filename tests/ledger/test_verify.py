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
