"""The accounts of payments and the wallet (`payments.*`, `wallet.*`) are theirs: a tenant's
key or session reads them but cannot open, post to, settle, reverse or rename them. Were it
able to, a tenant would credit its own `payments.balance.usd` from an account of its making
and ask for a payout of money it never took."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.ledger_contract import balance_code, clearing_code, payments_accounts
from tests.support.asgi import identity_headers
from tests.support.ledger import (
    as_service,
    as_tenant,
    assert_error,
    create_account,
    create_transaction,
    get_account,
    transfer_body,
)

BALANCE = balance_code("usd")
CLEARING = clearing_code("usd")


def as_platform_admin() -> dict[str, str]:
    # A platform admin acting in the tenant: still a person, not the service.
    return identity_headers(
        tenant_id="ten_ledger_a", principal="usr_admin", principal_type="user",
        role="PLATFORM_ADMIN",
    )  # fmt: skip


TENANT_CALLERS = [
    pytest.param(as_tenant, id="api-key"),
    pytest.param(as_platform_admin, id="platform-admin-session"),
]


async def open_payments_books(client: httpx.AsyncClient) -> dict[str, Any]:
    """Payments' accounts as payments opens them, and an asset account of the tenant's own."""
    for account in payments_accounts("usd"):
        response = await client.post("/ledger/accounts", json=account.body(), headers=as_service())
        assert response.status_code == 201, response.text
    return await create_account(client, as_tenant(), code="cash", type="asset")


async def balance_of(client: httpx.AsyncClient, code: str) -> int:
    account = await get_account(client, as_tenant(), code)
    posted: int = account["balance"]["posted"]
    return posted


class TestOpening:
    @pytest.mark.parametrize("code", ["payments.balance.usd", "payments.x", "wallet.wal_mine"])
    @pytest.mark.parametrize("caller", TENANT_CALLERS)
    async def test_a_tenant_cannot_open_one(
        self, client: httpx.AsyncClient, code: str, caller: Any
    ) -> None:
        body = {"name": "Mine", "type": "liability", "currency": "usd", "code": code}
        response = await client.post("/ledger/accounts", json=body, headers=caller())
        assert_error(response, 403, "account_reserved", "code")
        assert (
            await client.get(f"/ledger/accounts/{code}", headers=as_tenant())
        ).status_code == 404

    @pytest.mark.parametrize("code", ["payments", "paymentsx.usd", "wallets.mine", "my.wallet.x"])
    async def test_codes_that_only_look_alike_are_the_tenants(
        self, client: httpx.AsyncClient, code: str
    ) -> None:
        await create_account(client, as_tenant(), code=code)

    async def test_the_service_opens_one_and_the_tenant_reads_it(
        self, client: httpx.AsyncClient
    ) -> None:
        await open_payments_books(client)
        assert (await get_account(client, as_tenant(), BALANCE))["code"] == BALANCE


class TestMoving:
    @pytest.mark.parametrize("by", ["code", "id"])
    @pytest.mark.parametrize("caller", TENANT_CALLERS)
    async def test_a_tenant_cannot_credit_its_own_balance(
        self, client: httpx.AsyncClient, by: str, caller: Any
    ) -> None:
        await open_payments_books(client)
        target = (
            BALANCE if by == "code" else (await get_account(client, as_tenant(), BALANCE))["id"]
        )
        response = await client.post(
            "/ledger/transactions", json=transfer_body("mint", "cash", target, 10_000),
            headers=caller(),
        )  # fmt: skip
        assert_error(response, 403, "account_reserved", "entries[1][account_id]")
        assert await balance_of(client, BALANCE) == 0
        assert await balance_of(client, "cash") == 0

    async def test_in_a_batch_only_that_item_fails(self, client: httpx.AsyncClient) -> None:
        await open_payments_books(client)
        await create_account(client, as_tenant(), code="sales", type="liability")
        response = await client.post(
            "/ledger/transactions/batch",
            json={"transactions": [
                transfer_body("fine", "cash", "sales", 300),
                transfer_body("mint", "cash", BALANCE, 10_000),
            ]},
            headers=as_tenant(),
        )  # fmt: skip
        assert response.status_code == 200, response.text
        first, second = response.json()["data"]
        assert first["status"] == "created"
        assert second["status"] == "failed"
        assert second["error"]["code"] == "account_reserved"
        assert (await balance_of(client, "sales"), await balance_of(client, BALANCE)) == (300, 0)

    async def test_the_service_posts_to_it(self, client: httpx.AsyncClient) -> None:
        await open_payments_books(client)
        await create_transaction(
            client, as_service(), **transfer_body("pi_1", CLEARING, BALANCE, 2_500)
        )
        assert await balance_of(client, BALANCE) == 2_500

    async def test_a_tenant_cannot_post_void_or_reverse_what_payments_wrote(
        self, client: httpx.AsyncClient
    ) -> None:
        await open_payments_books(client)
        paid = await create_transaction(
            client, as_service(), **transfer_body("pi_1", CLEARING, BALANCE, 2_500)
        )
        held = await create_transaction(
            client, as_service(), pending=True, **transfer_body("po_1", BALANCE, CLEARING, 1_000)
        )
        for path in (f"{held['id']}/post", f"{held['id']}/void", f"{paid['id']}/reverse"):
            response = await client.post(
                f"/ledger/transactions/{path}", json={}, headers=as_tenant()
            )
            assert_error(response, 403, "account_reserved", "id")
        balance = (await get_account(client, as_tenant(), BALANCE))["balance"]
        assert (balance["posted"], balance["available"]) == (2_500, 1_500)
        # The service still settles its own hold.
        posted = await client.post(
            f"/ledger/transactions/{held['id']}/post", json={}, headers=as_service()
        )
        assert posted.status_code == 200, posted.text
        assert await balance_of(client, BALANCE) == 1_500

    async def test_a_tenant_cannot_rename_one(self, client: httpx.AsyncClient) -> None:
        await open_payments_books(client)
        response = await client.post(
            f"/ledger/accounts/{BALANCE}", json={"name": "Mine now"}, headers=as_tenant()
        )
        assert_error(response, 403, "account_reserved", "id")
        assert (await get_account(client, as_tenant(), BALANCE))["name"] != "Mine now"
