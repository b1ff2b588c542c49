"""Ledger accounts: created, read by id or code, listed, renamed; their entries and their
balance at a past moment. Every read is scoped to the caller's tenant and mode."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.support.ledger import (
    ELSEWHERE,
    OTHER_TENANT,
    as_tenant,
    assert_error,
    assert_verified,
    balance,
    create_account,
    get_account,
    transfer,
    transfer_body,
)


class TestCreateAccount:
    async def test_creates_an_empty_account(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/ledger/accounts",
            json={"name": "Operating cash", "type": "asset", "currency": "USD"},
            headers=as_tenant(),
        )
        assert response.status_code == 201, response.text
        account = response.json()
        assert account["id"].startswith("acc_")
        assert account["object"] == "ledger.account"
        assert account["name"] == "Operating cash"
        assert account["type"] == "asset"
        assert account["currency"] == "usd"
        assert account["no_overdraft"] is False
        assert account["code"] is None
        assert account["metadata"] == {}
        assert balance(account) == (0, 0, 0, 0)
        assert account["version"] == 0
        assert account["livemode"] is False
        assert abs(account["created"] - time.time()) < 60
        assert await get_account(client, as_tenant(), account["id"]) == account

    async def test_keeps_code_metadata_and_overdraft_rule(self, client: httpx.AsyncClient) -> None:
        account = await create_account(
            client,
            as_tenant(),
            name="Customer wallet",
            type="liability",
            currency="eur",
            code="wallet:cus_1",
            no_overdraft=True,
            metadata={"customer": "cus_1"},
        )
        assert account["code"] == "wallet:cus_1"
        assert account["no_overdraft"] is True
        assert account["metadata"] == {"customer": "cus_1"}
        assert account["currency"] == "eur"

    async def test_every_account_type(self, client: httpx.AsyncClient) -> None:
        for type_ in ("asset", "liability", "equity", "revenue", "expense"):
            account = await create_account(client, as_tenant(), type=type_)
            assert account["type"] == type_

    async def test_livemode_identity_creates_a_live_account(
        self, client: httpx.AsyncClient
    ) -> None:
        account = await create_account(client, as_tenant(livemode=True))
        assert account["livemode"] is True

    @pytest.mark.parametrize(
        ("fields", "code", "param"),
        [
            ({"type": "cash"}, "parameter_invalid", "type"),
            ({"currency": "xyz"}, "parameter_invalid", "currency"),
            ({"name": ""}, "parameter_invalid", "name"),
            ({"code": "has space"}, "parameter_invalid", "code"),
            ({"balance": 100}, "parameter_unknown", "balance"),
            ({"name": None}, "parameter_invalid", "name"),
        ],
    )
    async def test_invalid_fields_are_refused(
        self, client: httpx.AsyncClient, fields: dict[str, Any], code: str, param: str
    ) -> None:
        body = {"name": "Account", "type": "asset", "currency": "usd", **fields}
        response = await client.post("/ledger/accounts", json=body, headers=as_tenant())
        assert_error(response, 400, code, param)
        listed = await client.get("/ledger/accounts", headers=as_tenant())
        assert listed.json()["data"] == []

    async def test_missing_currency_is_refused(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/ledger/accounts", json={"name": "Cash", "type": "asset"}, headers=as_tenant()
        )
        assert_error(response, 400, "parameter_missing", "currency")

    async def test_code_taken_in_the_same_tenant_and_mode(self, client: httpx.AsyncClient) -> None:
        first = await create_account(client, as_tenant(), code="acc_revenue", type="revenue")
        response = await client.post(
            "/ledger/accounts",
            json={"name": "Again", "type": "revenue", "currency": "usd", "code": "acc_revenue"},
            headers=as_tenant(),
        )
        assert_error(response, 409, "code_taken", "code")
        listed = await client.get("/ledger/accounts", headers=as_tenant())
        assert [a["id"] for a in listed.json()["data"]] == [first["id"]]

    async def test_same_code_in_another_tenant_or_mode(self, client: httpx.AsyncClient) -> None:
        mine = await create_account(client, as_tenant(), code="acc_assets")
        theirs = await create_account(client, as_tenant(OTHER_TENANT), code="acc_assets")
        live = await create_account(client, as_tenant(livemode=True), code="acc_assets")
        assert len({mine["id"], theirs["id"], live["id"]}) == 3
        assert (await get_account(client, as_tenant(), "acc_assets"))["id"] == mine["id"]
        assert (await get_account(client, as_tenant(OTHER_TENANT), "acc_assets"))["id"] == (
            theirs["id"]
        )
        assert (await get_account(client, as_tenant(livemode=True), "acc_assets"))["id"] == (
            live["id"]
        )

    async def test_unauthenticated(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/ledger/accounts", json={"name": "Cash", "type": "asset", "currency": "usd"}
        )
        assert_error(response, 401, "identity_missing", None)
        listed = await client.get("/ledger/accounts", headers=as_tenant())
        assert listed.json()["data"] == []


class TestGetAccount:
    async def test_by_id_and_by_code(self, client: httpx.AsyncClient) -> None:
        account = await create_account(client, as_tenant(), code="acc_assets")
        assert await get_account(client, as_tenant(), account["id"]) == account
        assert await get_account(client, as_tenant(), "acc_assets") == account

    @pytest.mark.parametrize(("tenant_id", "livemode"), ELSEWHERE)
    async def test_other_tenant_or_mode_gets_404(
        self, client: httpx.AsyncClient, tenant_id: str, livemode: bool
    ) -> None:
        account = await create_account(client, as_tenant(), code="acc_assets")
        for ref in (account["id"], "acc_assets"):
            response = await client.get(
                f"/ledger/accounts/{ref}", headers=as_tenant(tenant_id, livemode=livemode)
            )
            assert_error(response, 404, "resource_missing", "id")

    async def test_not_found(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/ledger/accounts/acc_missing", headers=as_tenant())
        assert_error(response, 404, "resource_missing", "id")

    async def test_unauthenticated(self, client: httpx.AsyncClient) -> None:
        account = await create_account(client, as_tenant())
        response = await client.get(f"/ledger/accounts/{account['id']}")
        assert_error(response, 401, "identity_missing", None)


class TestListAccounts:
    async def test_newest_first_with_pagination(self, client: httpx.AsyncClient) -> None:
        created = [
            (await create_account(client, as_tenant(), name=f"a{n}"))["id"] for n in range(5)
        ]
        newest_first = list(reversed(created))
        response = await client.get("/ledger/accounts?limit=2", headers=as_tenant())
        page = response.json()
        assert page["object"] == "list"
        assert page["url"] == "/ledger/accounts"
        assert [a["id"] for a in page["data"]] == newest_first[:2]
        assert page["has_more"] is True
        response = await client.get(
            f"/ledger/accounts?limit=2&starting_after={newest_first[1]}", headers=as_tenant()
        )
        assert [a["id"] for a in response.json()["data"]] == newest_first[2:4]
        response = await client.get(
            f"/ledger/accounts?limit=2&starting_after={newest_first[3]}", headers=as_tenant()
        )
        assert [a["id"] for a in response.json()["data"]] == newest_first[4:]
        assert response.json()["has_more"] is False

    async def test_filters_by_currency_and_type(self, client: httpx.AsyncClient) -> None:
        usd_asset = await create_account(client, as_tenant(), type="asset", currency="usd")
        eur_asset = await create_account(client, as_tenant(), type="asset", currency="eur")
        usd_revenue = await create_account(client, as_tenant(), type="revenue", currency="usd")

        async def ids(query: str) -> set[str]:
            response = await client.get(f"/ledger/accounts?{query}", headers=as_tenant())
            assert response.status_code == 200, response.text
            return {a["id"] for a in response.json()["data"]}

        assert await ids("currency=usd") == {usd_asset["id"], usd_revenue["id"]}
        assert await ids("currency=EUR") == {eur_asset["id"]}
        assert await ids("type=revenue") == {usd_revenue["id"]}
        assert await ids("type=asset&currency=usd") == {usd_asset["id"]}
        assert await ids("type=expense") == set()

    async def test_other_tenants_and_modes_are_invisible(self, client: httpx.AsyncClient) -> None:
        mine = await create_account(client, as_tenant())
        await create_account(client, as_tenant(OTHER_TENANT))
        live = await create_account(client, as_tenant(livemode=True))
        response = await client.get("/ledger/accounts", headers=as_tenant())
        assert [a["id"] for a in response.json()["data"]] == [mine["id"]]
        response = await client.get("/ledger/accounts", headers=as_tenant(livemode=True))
        assert [a["id"] for a in response.json()["data"]] == [live["id"]]

    async def test_unauthenticated(self, client: httpx.AsyncClient) -> None:
        await create_account(client, as_tenant())
        response = await client.get("/ledger/accounts")
        assert_error(response, 401, "identity_missing", None)


class TestUpdateAccount:
    async def test_renames_and_replaces_metadata(self, client: httpx.AsyncClient) -> None:
        account = await create_account(client, as_tenant(), metadata={"a": "1"}, code="cash")
        response = await client.post(
            f"/ledger/accounts/{account['id']}",
            json={"name": "Renamed", "metadata": {"b": "2"}},
            headers=as_tenant(),
        )
        assert response.status_code == 200, response.text
        updated = response.json()
        assert updated == {**account, "name": "Renamed", "metadata": {"b": "2"}}
        assert await get_account(client, as_tenant(), account["id"]) == updated

    async def test_by_code_and_only_the_fields_given(self, client: httpx.AsyncClient) -> None:
        account = await create_account(client, as_tenant(), metadata={"a": "1"}, code="cash")
        response = await client.post(
            "/ledger/accounts/cash", json={"name": "Petty cash"}, headers=as_tenant()
        )
        assert response.status_code == 200, response.text
        assert response.json() == {**account, "name": "Petty cash"}

    @pytest.mark.parametrize(
        "fields", [{"type": "revenue"}, {"currency": "eur"}, {"no_overdraft": True}]
    )
    async def test_fixed_fields_cannot_change(
        self, client: httpx.AsyncClient, fields: dict[str, Any]
    ) -> None:
        account = await create_account(client, as_tenant())
        response = await client.post(
            f"/ledger/accounts/{account['id']}", json=fields, headers=as_tenant()
        )
        [param] = fields
        assert_error(response, 400, "parameter_unknown", param)
        assert await get_account(client, as_tenant(), account["id"]) == account

    @pytest.mark.parametrize(("tenant_id", "livemode"), ELSEWHERE)
    async def test_other_tenant_gets_404_and_changes_nothing(
        self, client: httpx.AsyncClient, tenant_id: str, livemode: bool
    ) -> None:
        account = await create_account(client, as_tenant())
        response = await client.post(
            f"/ledger/accounts/{account['id']}",
            json={"name": "Mine now"},
            headers=as_tenant(tenant_id, livemode=livemode),
        )
        assert_error(response, 404, "resource_missing", "id")
        assert await get_account(client, as_tenant(), account["id"]) == account

    async def test_not_found(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/ledger/accounts/acc_missing", json={"name": "x"}, headers=as_tenant()
        )
        assert_error(response, 404, "resource_missing", "id")

    async def test_unauthenticated(self, client: httpx.AsyncClient) -> None:
        account = await create_account(client, as_tenant())
        response = await client.post(f"/ledger/accounts/{account['id']}", json={"name": "x"})
        assert_error(response, 401, "identity_missing", None)
        assert await get_account(client, as_tenant(), account["id"]) == account


class TestListEntries:
    async def test_newest_first_with_balance_and_version_after(
        self, client: httpx.AsyncClient
    ) -> None:
        cash = await create_account(client, as_tenant(), type="asset")
        sales = await create_account(client, as_tenant(), type="revenue")
        first = await transfer(
            client, as_tenant(), debit=cash["id"], credit=sales["id"], amount=500, reference_id="r1"
        )
        second = await transfer(
            client, as_tenant(), debit=sales["id"], credit=cash["id"], amount=200, reference_id="r2"
        )
        response = await client.get(f"/ledger/accounts/{cash['id']}/entries", headers=as_tenant())
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["url"] == f"/ledger/accounts/{cash['id']}/entries"
        assert page["has_more"] is False
        shown = [
            (
                e["transaction_id"],
                e["direction"],
                e["amount"],
                e["balance_after"],
                e["version_after"],
            )
            for e in page["data"]
        ]
        assert shown == [(second["id"], "credit", 200, 300, 2), (first["id"], "debit", 500, 500, 1)]
        assert all(e["object"] == "ledger.entry" for e in page["data"])
        assert all(e["account_id"] == cash["id"] for e in page["data"])
        assert all(e["currency"] == "usd" and e["pending"] is False for e in page["data"])
        # The revenue account's balances are shown in its own (credit) direction.
        response = await client.get(f"/ledger/accounts/{sales['id']}/entries", headers=as_tenant())
        assert [(e["balance_after"], e["version_after"]) for e in response.json()["data"]] == [
            (300, 2),
            (500, 1),
        ]
        await assert_verified(client)

    async def test_pagination(self, client: httpx.AsyncClient) -> None:
        await create_account(client, as_tenant(), type="asset", code="cash")
        sales = await create_account(client, as_tenant(), type="revenue")
        response = await client.post(
            "/ledger/transactions/batch",
            json={
                "transactions": [transfer_body(f"r{n}", "cash", sales["id"], 1) for n in range(5)]
            },
            headers=as_tenant(),
        )
        assert response.status_code == 200, response.text

        async def versions(query: str) -> tuple[list[int], bool, list[str]]:
            found = await client.get(f"/ledger/accounts/cash/entries{query}", headers=as_tenant())
            assert found.status_code == 200, found.text
            data = found.json()["data"]
            return (
                [e["version_after"] for e in data],
                found.json()["has_more"],
                [e["id"] for e in data],
            )

        first, more, ids = await versions("?limit=2")
        assert (first, more) == ([5, 4], True)
        second, more, ids2 = await versions(f"?limit=2&starting_after={ids[-1]}")
        assert (second, more) == ([3, 2], True)
        third, more, _ = await versions(f"?limit=2&starting_after={ids2[-1]}")
        assert (third, more) == ([1], False)
        back, more, _ = await versions(f"?limit=2&ending_before={ids2[0]}")
        assert (back, more) == ([5, 4], False)
        await assert_verified(client)

    @pytest.mark.parametrize(("tenant_id", "livemode"), ELSEWHERE)
    async def test_other_tenant_and_mode_get_404(
        self, client: httpx.AsyncClient, tenant_id: str, livemode: bool
    ) -> None:
        cash = await create_account(client, as_tenant())
        sales = await create_account(client, as_tenant(), type="revenue")
        await transfer(
            client, as_tenant(), debit=cash["id"], credit=sales["id"], amount=5, reference_id="r"
        )
        response = await client.get(
            f"/ledger/accounts/{cash['id']}/entries",
            headers=as_tenant(tenant_id, livemode=livemode),
        )
        assert_error(response, 404, "resource_missing", "id")

    async def test_not_found(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/ledger/accounts/acc_missing/entries", headers=as_tenant())
        assert_error(response, 404, "resource_missing", "id")

    async def test_unauthenticated(self, client: httpx.AsyncClient) -> None:
        cash = await create_account(client, as_tenant())
        response = await client.get(f"/ledger/accounts/{cash['id']}/entries")
        assert_error(response, 401, "identity_missing", None)


class TestBalanceAt:
    async def test_posted_balance_between_postings(self, client: httpx.AsyncClient) -> None:
        cash = await create_account(client, as_tenant(), type="asset", code="cash")
        sales = await create_account(client, as_tenant(), type="revenue")
        before = int(time.time()) - 1
        first = await transfer(
            client, as_tenant(), debit="cash", credit=sales["id"], amount=100, reference_id="r1"
        )
        await asyncio.sleep(1.1)
        second = await transfer(
            client, as_tenant(), debit="cash", credit=sales["id"], amount=50, reference_id="r2"
        )
        # A pending hold moves no posted money: the balance at any time ignores it.
        await transfer(
            client,
            as_tenant(),
            debit=sales["id"],
            credit="cash",
            amount=30,
            reference_id="r3",
            pending=True,
        )
        await transfer(
            client, as_tenant(), debit=sales["id"], credit="cash", amount=20, reference_id="r4"
        )
        # `created` is in whole seconds and the first posting happened within its second.
        between = first["created"] + 1
        assert between <= second["created"]

        async def at(moment: str | None, ref: str = "cash") -> dict[str, Any]:
            params = {} if moment is None else {"at": moment}
            response = await client.get(
                f"/ledger/accounts/{ref}/balance", params=params, headers=as_tenant()
            )
            assert response.status_code == 200, response.text
            found: dict[str, Any] = response.json()
            return found

        found = await at(str(before))
        assert (found["posted"], found["version"]) == (0, 0)
        assert await at(str(between)) == {
            "object": "ledger.balance",
            "account_id": cash["id"],
            "at": between,
            "posted": 100,
            "version": 1,
        }
        iso = datetime.fromtimestamp(between, UTC).isoformat()
        found = await at(iso)
        assert (found["at"], found["posted"], found["version"]) == (between, 100, 1)
        assert (await at(iso, sales["id"]))["posted"] == 100
        # Now: both postings in and 20 back out; the hold took a version but no money.
        found = await at(None)
        assert (found["posted"], found["version"]) == (130, 4)
        assert (await get_account(client, as_tenant(), "cash"))["balance"]["posted"] == 130
        await assert_verified(client)

    async def test_invalid_time_is_refused(self, client: httpx.AsyncClient) -> None:
        cash = await create_account(client, as_tenant())
        response = await client.get(
            f"/ledger/accounts/{cash['id']}/balance?at=yesterday", headers=as_tenant()
        )
        assert_error(response, 400, "parameter_invalid", "at")

    @pytest.mark.parametrize(("tenant_id", "livemode"), ELSEWHERE)
    async def test_other_tenant_and_mode_get_404(
        self, client: httpx.AsyncClient, tenant_id: str, livemode: bool
    ) -> None:
        cash = await create_account(client, as_tenant())
        response = await client.get(
            f"/ledger/accounts/{cash['id']}/balance",
            headers=as_tenant(tenant_id, livemode=livemode),
        )
        assert_error(response, 404, "resource_missing", "id")

    async def test_not_found(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/ledger/accounts/acc_missing/balance", headers=as_tenant())
        assert_error(response, 404, "resource_missing", "id")

    async def test_unauthenticated(self, client: httpx.AsyncClient) -> None:
        cash = await create_account(client, as_tenant())
        response = await client.get(f"/ledger/accounts/{cash['id']}/balance")
        assert_error(response, 401, "identity_missing", None)
