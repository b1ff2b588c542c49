"""Shared by the ledger tests (no tests here): identities, factories that go through the
ledger's HTTP API, and the checks every money-moving scenario ends with.

Identity tokens live for 60 seconds, so headers are minted at each use, never once at import.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.asgi import identity_headers

TENANT = "ten_ledger_a"
OTHER_TENANT = "ten_ledger_b"
# (tenant_id, livemode) of callers who must not reach the tenant's test-mode books.
ELSEWHERE = [
    pytest.param(OTHER_TENANT, False, id="other-tenant"),
    pytest.param(TENANT, True, id="live"),
]


def as_tenant(tenant_id: str = TENANT, *, livemode: bool = False) -> dict[str, str]:
    return identity_headers(tenant_id=tenant_id, livemode=livemode)


def as_service(tenant_id: str = TENANT, *, livemode: bool = False) -> dict[str, str]:
    """Payments or the wallet acting for a tenant: the only callers of its reserved accounts."""
    return identity_headers(
        tenant_id=tenant_id, livemode=livemode, principal="payments", principal_type="service"
    )


def as_platform_admin() -> dict[str, str]:
    return identity_headers(tenant_id="ten_platform", principal_type="user", role="PLATFORM_ADMIN")


# ---------------------------------------------------------------------------------------
# Accounts


async def create_account(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {"name": "Account", "type": "asset", "currency": "usd", **fields}
    response = await client.post("/ledger/accounts", json=body, headers=headers)
    assert response.status_code == 201, response.text
    account: dict[str, Any] = response.json()
    return account


async def get_account(
    client: httpx.AsyncClient, headers: dict[str, str], ref: str
) -> dict[str, Any]:
    response = await client.get(f"/ledger/accounts/{ref}", headers=headers)
    assert response.status_code == 200, response.text
    account: dict[str, Any] = response.json()
    return account


def balance(account: dict[str, Any]) -> tuple[int, int, int, int]:
    """(posted, pending_debits, pending_credits, available)."""
    found = account["balance"]
    return (found["posted"], found["pending_debits"], found["pending_credits"], found["available"])


async def balances(client: httpx.AsyncClient, *codes: str) -> dict[str, tuple[int, ...]]:
    """code -> (posted, pending_debits, pending_credits, available)."""
    return {code: balance(await get_account(client, as_tenant(), code)) for code in codes}


async def open_books(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None
) -> dict[str, str]:
    """A small chart of accounts, each reachable by its code: code -> id."""
    headers = headers or as_tenant()
    chart: dict[str, dict[str, Any]] = {
        "cash": {"type": "asset", "currency": "usd"},
        "sales": {"type": "revenue", "currency": "usd"},
        "wallet": {"type": "liability", "currency": "usd", "no_overdraft": True},
        "merchant": {"type": "liability", "currency": "usd"},
        "cash_eur": {"type": "asset", "currency": "eur"},
        "sales_eur": {"type": "revenue", "currency": "eur"},
    }
    return {
        code: (await create_account(client, headers, name=code, code=code, **fields))["id"]
        for code, fields in chart.items()
    }


# ---------------------------------------------------------------------------------------
# Transactions


def transfer_body(reference_id: str, debit: str, credit: str, amount: int) -> dict[str, Any]:
    return {
        "reference_id": reference_id,
        "entries": [
            {"account_id": debit, "amount": amount, "direction": "debit"},
            {"account_id": credit, "amount": amount, "direction": "credit"},
        ],
    }


async def create_transaction(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    response = await client.post("/ledger/transactions", json=fields, headers=headers)
    assert response.status_code == 201, response.text
    transaction: dict[str, Any] = response.json()
    return transaction


async def transfer(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    debit: str,
    credit: str,
    amount: int,
    reference_id: str,
    **fields: Any,
) -> dict[str, Any]:
    body = {**transfer_body(reference_id, debit, credit, amount), **fields}
    return await create_transaction(client, headers, **body)


async def fund_wallet(client: httpx.AsyncClient, amount: int, reference_id: str = "fund") -> None:
    await transfer(
        client, as_tenant(), debit="cash", credit="wallet", amount=amount, reference_id=reference_id
    )


def later(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def wait_until(deadline: float) -> None:
    await asyncio.sleep(max(0.0, deadline - time.time()))


async def hold(
    client: httpx.AsyncClient,
    amount: int,
    reference_id: str = "hold",
    expires_in: float | None = None,
) -> dict[str, Any]:
    """A pending payment from the wallet to the merchant."""
    fields: dict[str, Any] = {"pending": True}
    if expires_in is not None:
        fields["expires_at"] = later(expires_in)
    return await transfer(
        client,
        as_tenant(),
        debit="wallet",
        credit="merchant",
        amount=amount,
        reference_id=reference_id,
        **fields,
    )


async def get_transaction(
    client: httpx.AsyncClient, transaction_id: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = await client.get(
        f"/ledger/transactions/{transaction_id}", headers=headers or as_tenant()
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def list_transactions(
    client: httpx.AsyncClient, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    response = await client.get(
        "/ledger/transactions", params={"limit": 100, **(params or {})}, headers=as_tenant()
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def batch(client: httpx.AsyncClient, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = await client.post(
        "/ledger/transactions/batch", json={"transactions": items}, headers=as_tenant()
    )
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["data"]
    assert len(results) == len(items)
    return results


# ---------------------------------------------------------------------------------------
# Checks


async def snapshot(client: httpx.AsyncClient, books: dict[str, str]) -> dict[str, Any]:
    """Everything a refused request must leave as it was: every account's balance and
    version, and the transactions written."""
    accounts = {}
    for code in books:
        account = await get_account(client, as_tenant(), code)
        accounts[code] = (balance(account), account["version"])
    return {"accounts": accounts, "transactions": await list_transactions(client)}


async def assert_verified(client: httpx.AsyncClient) -> None:
    response = await client.get("/ledger/verify", headers=as_platform_admin())
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["ok"] is True, report["discrepancies"]
    assert report["discrepancies"] == []


def assert_error(
    response: httpx.Response, status: int, code: str, param: str | None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    assert error["param"] == param, error
    return error
