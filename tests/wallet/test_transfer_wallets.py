"""A transfer reads its two wallets in one statement (#19) and refuses as before: the
source's refusal first, an unknown or other tenant's target as to_wallet_id."""

from __future__ import annotations

import httpx

from tests.support.wallet import create_wallet, key, new_tenant, transfer


async def test_unknown_wallets_are_404_the_source_first(
    http: httpx.AsyncClient, tenant: str
) -> None:
    ada = await create_wallet(http, key(tenant))
    both = await transfer(http, key(tenant), "wal_nope", "wal_none", 1)
    assert both.status_code == 404, both.text
    assert both.json()["error"]["param"] == "from_wallet_id"
    target = await transfer(http, key(tenant), ada["id"], "wal_none", 1)
    assert target.status_code == 404, target.text
    assert target.json()["error"]["param"] == "to_wallet_id"


async def test_another_tenants_wallet_is_not_found_on_either_side(
    http: httpx.AsyncClient, tenant: str
) -> None:
    ada = await create_wallet(http, key(tenant))
    other = new_tenant()
    eve = await create_wallet(http, key(other))
    into = await transfer(http, key(tenant), ada["id"], eve["id"], 1)
    assert (into.status_code, into.json()["error"]["param"]) == (404, "to_wallet_id")
    out = await transfer(http, key(tenant), eve["id"], ada["id"], 1)
    assert (out.status_code, out.json()["error"]["param"]) == (404, "from_wallet_id")
