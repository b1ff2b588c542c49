"""Cursor pagination over a real table (the ledger's accounts)."""

from __future__ import annotations

import asyncpg
import httpx

from shared.ids import new_id
from tests.support.asgi import ServiceClient, identity_headers
from tests.support.servers import CreateDb


async def insert_accounts(
    dsn: str, tenant_id: str, count: int, livemode: bool = False
) -> list[str]:
    """Accounts written as the ledger writes them; ids ascend with creation time."""
    ids = [new_id("acc", at_ms=1_700_000_000_000 + i) for i in range(count)]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.executemany(
            "INSERT INTO accounts (id, tenant_id, livemode, name, type, currency) "
            "VALUES ($1, $2, $3, $4, 'asset', 'usd')",
            [(i, tenant_id, livemode, f"account {n}") for n, i in enumerate(ids)],
        )
    finally:
        await conn.close()
    return ids


async def ids_of(
    client: httpx.AsyncClient, query: str, tenant: str = "ten_a"
) -> tuple[list[str], bool]:
    response = await client.get(
        f"/ledger/accounts{query}", headers=identity_headers(tenant_id=tenant)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return [a["id"] for a in body["data"]], body["has_more"]


async def test_walks_all_pages_both_ways(
    create_db: CreateDb, service_client: ServiceClient
) -> None:
    dsn = await create_db("ledger")
    ids = await insert_accounts(dsn, "ten_a", 25)
    newest_first = list(reversed(ids))
    async with service_client("ledger", database_url=dsn) as client:
        first, more = await ids_of(client, "?limit=10")
        assert (first, more) == (newest_first[:10], True)
        second, more = await ids_of(client, f"?limit=10&starting_after={first[-1]}")
        assert (second, more) == (newest_first[10:20], True)
        third, more = await ids_of(client, f"?limit=10&starting_after={second[-1]}")
        assert (third, more) == (newest_first[20:], False)
        back, more = await ids_of(client, f"?limit=10&ending_before={third[0]}")
        assert (back, more) == (newest_first[10:20], True)
        default, _ = await ids_of(client, "")
        assert default == newest_first[:10]


async def test_other_tenants_and_modes_are_invisible(
    create_db: CreateDb, service_client: ServiceClient
) -> None:
    dsn = await create_db("ledger")
    mine = await insert_accounts(dsn, "ten_a", 3)
    await insert_accounts(dsn, "ten_b", 3)
    live = await insert_accounts(dsn, "ten_a", 2, livemode=True)
    async with service_client("ledger", database_url=dsn) as client:
        seen, _ = await ids_of(client, "?limit=100")
        assert sorted(seen) == sorted(mine)
        response = await client.get(
            f"/ledger/accounts/{mine[0]}", headers=identity_headers(tenant_id="ten_b")
        )
        assert response.status_code == 404
        response = await client.get(
            f"/ledger/accounts/{live[0]}", headers=identity_headers(tenant_id="ten_a")
        )
        assert response.status_code == 404
        response = await client.get(
            f"/ledger/accounts/{mine[0]}", headers=identity_headers(tenant_id="ten_a")
        )
        assert response.status_code == 200
        assert response.json()["balance"] == {
            "posted": 0,
            "pending_debits": 0,
            "pending_credits": 0,
            "available": 0,
        }


async def test_bad_list_parameters(service_client: ServiceClient) -> None:
    async with service_client("ledger") as client:
        for query, param in [
            ("?limit=0", "limit"),
            ("?limit=101", "limit"),
            ("?limit=ten", "limit"),
            ("?starting_after=a&ending_before=b", "body"),
        ]:
            response = await client.get(f"/ledger/accounts{query}", headers=identity_headers())
            assert response.status_code == 400, query
            assert response.json()["error"]["param"] == param
