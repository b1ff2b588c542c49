"""Wallets over a real ledger and payments: create, read, freeze, balance, history, and who
may see and move which wallet (the access matrix)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cli.stack.ports import free_port
from tests.support.wallet import (
    BANK,
    World,
    admin,
    balance,
    create_wallet,
    fund,
    key,
    new_tenant,
    platform_admin,
    user,
    wallet_app,
)


class TestCreate:
    async def test_a_wallet_gets_a_ledger_account(
        self, http: httpx.AsyncClient, tenant: str
    ) -> None:
        wallet = await create_wallet(http, key(tenant), owner="cus_42", currency="NGN",
                                     metadata={"tier": "gold"})  # fmt: skip
        assert wallet["id"].startswith("wal_")
        assert (wallet["owner"], wallet["currency"], wallet["status"]) == (
            "cus_42",
            "ngn",
            "active",
        )
        assert wallet["metadata"] == {"tier": "gold"}
        assert await balance(http, wallet["id"], key(tenant)) == {
            "object": "wallet.balance", "wallet_id": wallet["id"], "currency": "ngn",
            "available": 0, "pending": 0, "posted": 0, "livemode": False,
        }  # fmt: skip

    async def test_a_user_opens_its_own_wallet(self, http: httpx.AsyncClient, tenant: str) -> None:
        wallet = await create_wallet(http, user("usr_ada", tenant), owner=None)
        assert wallet["owner"] == "usr_ada"

    async def test_a_key_without_an_owner_opens_the_tenants_own_wallet(
        self, http: httpx.AsyncClient, tenant: str
    ) -> None:
        # Form-encoded, as the issue's `POST /wallet currency=usd` was sent.
        response = await http.post("/wallet", data={"currency": "usd"}, headers=key(tenant))
        assert response.status_code == 201, response.text
        assert response.json()["owner"] == tenant

    async def test_a_user_cannot_open_one_for_someone_else(
        self, http: httpx.AsyncClient, tenant: str
    ) -> None:
        response = await http.post(
            "/wallet", json={"owner": "usr_bob", "currency": "usd"}, headers=user("usr_ada", tenant)
        )
        assert response.status_code == 403

    async def test_a_platform_admin_cannot_open_one(self, http: httpx.AsyncClient) -> None:
        response = await http.post(
            "/wallet", json={"owner": "x", "currency": "usd"}, headers=platform_admin()
        )
        assert response.status_code == 403
        assert response.json()["error"]["type"] == "permission_error"

    @pytest.mark.parametrize(
        ("body", "param", "code"),
        [
            ({"owner": "x"}, "currency", "parameter_missing"),
            ({"owner": "x", "currency": "zzz"}, "currency", "parameter_invalid"),
            ({"owner": "x", "currency": 5}, "currency", "parameter_invalid"),
            ({"owner": "", "currency": "usd"}, "owner", "parameter_invalid"),
            ({"owner": "x" * 201, "currency": "usd"}, "owner", "parameter_invalid"),
            ({"owner": "x", "currency": "usd", "colour": "red"}, "colour", "parameter_unknown"),
            ({"owner": "x", "currency": "usd", "metadata": "no"}, "metadata", "parameter_invalid"),
        ],
    )
    async def test_bad_input_is_400_and_opens_nothing(
        self, http: httpx.AsyncClient, tenant: str, body: dict[str, Any], param: str, code: str
    ) -> None:
        response = await http.post("/wallet", json=body, headers=key(tenant))
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["param"], error["code"]) == (param, code)
        assert set(error) >= {"type", "code", "message", "param", "request_id"}
        assert (await http.get("/wallet", headers=key(tenant))).json()["data"] == []

    async def test_no_identity_is_401(self, http: httpx.AsyncClient) -> None:
        assert (
            await http.post("/wallet", json={"owner": "x", "currency": "usd"})
        ).status_code == 401
        assert (await http.get("/wallet")).status_code == 401

    async def test_a_replayed_key_opens_one_wallet(
        self, http: httpx.AsyncClient, tenant: str
    ) -> None:
        headers = {**key(tenant), "Idempotency-Key": "open-1"}
        body = {"owner": "cus_1", "currency": "usd"}
        first = await http.post("/wallet", json=body, headers=headers)
        again = await http.post("/wallet", json=body, headers=headers)
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["Idempotent-Replayed"] == "true"
        other = await http.post("/wallet", json={**body, "currency": "eur"}, headers=headers)
        assert other.status_code == 400
        assert other.json()["error"]["type"] == "idempotency_error"
        assert len((await http.get("/wallet", headers=key(tenant))).json()["data"]) == 1

    async def test_without_the_ledger_nothing_opens(
        self, services: World, http: httpx.AsyncClient, tenant: str
    ) -> None:
        down = services.settings.model_copy(
            update={"ledger_url": f"http://127.0.0.1:{free_port()}"}
        )
        async with wallet_app(down) as cut_off:
            response = await cut_off.http.post(
                "/wallet", json={"owner": "x", "currency": "usd"}, headers=key(tenant)
            )
        # Unavailable, not refused: the same request may succeed once the ledger is back.
        assert response.status_code == 503
        assert response.json()["error"]["type"] == "api_error"
        assert (await http.get("/wallet", headers=key(tenant))).json()["data"] == []


class TestList:
    async def test_filters_and_pages(self, http: httpx.AsyncClient, tenant: str) -> None:
        made = [
            await create_wallet(http, key(tenant), owner=owner, currency=currency)
            for owner, currency in [("a", "usd"), ("b", "usd"), ("a", "eur")]
        ]
        listed = (await http.get("/wallet", headers=key(tenant))).json()
        assert listed["object"] == "list"
        assert [w["id"] for w in listed["data"]] == [w["id"] for w in reversed(made)]
        by_owner = (await http.get("/wallet?owner=a", headers=key(tenant))).json()["data"]
        assert {w["id"] for w in by_owner} == {made[0]["id"], made[2]["id"]}
        by_currency = (await http.get("/wallet?currency=usd", headers=key(tenant))).json()
        assert {w["id"] for w in by_currency["data"]} == {made[0]["id"], made[1]["id"]}
        first = (await http.get("/wallet?limit=2", headers=key(tenant))).json()
        assert first["has_more"] is True
        rest = (
            await http.get(f"/wallet?limit=2&starting_after={first['data'][-1]['id']}",
                           headers=key(tenant))
        ).json()  # fmt: skip
        assert [w["id"] for w in rest["data"]] == [made[0]["id"]]
        assert rest["has_more"] is False
        back = (
            await http.get(f"/wallet?limit=2&ending_before={made[0]['id']}", headers=key(tenant))
        ).json()
        assert [w["id"] for w in back["data"]] == [made[2]["id"], made[1]["id"]]
        frozen = await http.post(f"/wallet/{made[1]['id']}/freeze", headers=key(tenant))
        assert frozen.status_code == 200
        by_status = (await http.get("/wallet?status=frozen", headers=key(tenant))).json()["data"]
        assert [w["id"] for w in by_status] == [made[1]["id"]]

    @pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "status=melted"])
    async def test_bad_list_parameters_are_400(
        self, http: httpx.AsyncClient, tenant: str, query: str
    ) -> None:
        assert (await http.get(f"/wallet?{query}", headers=key(tenant))).status_code == 400

    @pytest.mark.parametrize("query", ["limit=0", "limit=101", "type=gift", "status=lost"])
    async def test_bad_history_parameters_are_400(
        self, http: httpx.AsyncClient, tenant: str, query: str
    ) -> None:
        wallet = await create_wallet(http, key(tenant))
        response = await http.get(
            f"/wallet/{wallet['id']}/transactions?{query}", headers=key(tenant)
        )
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "invalid_request_error"

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/wallet/wal_nope"),
            ("GET", "/wallet/wal_nope/balance"),
            ("GET", "/wallet/wal_nope/transactions"),
            ("GET", "/wallet/operations/wop_nope"),
            ("POST", "/wallet/wal_nope/freeze"),
            ("POST", "/wallet/wal_nope/unfreeze"),
        ],
    )
    async def test_unknown_ids_are_404(
        self, http: httpx.AsyncClient, tenant: str, method: str, path: str
    ) -> None:
        response = await http.request(method, path, headers=key(tenant))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "resource_missing"


class TestAccessMatrix:
    """Who sees which wallet: 404 (never 403) where the wallet is not the caller's to see."""

    async def test_reading(self, http: httpx.AsyncClient, tenant: str) -> None:
        ada = await create_wallet(http, user("usr_ada", tenant), owner=None)
        bob = await create_wallet(http, user("usr_bob", tenant), owner=None)
        stranger = await create_wallet(http, key(OTHER := new_tenant()), owner="usr_ada")
        cases: list[tuple[dict[str, str], dict[str, Any], int]] = [
            (user("usr_ada", tenant), ada, 200),
            (user("usr_ada", tenant), bob, 404),
            (user("usr_ada", tenant), stranger, 404),
            (user("usr_ada", tenant, livemode=True), ada, 404),
            (admin(tenant), ada, 200),
            (admin(tenant), bob, 200),
            (admin(tenant), stranger, 404),
            (key(tenant), bob, 200),
            (key(tenant, livemode=True), bob, 404),
            (key(OTHER), ada, 404),
            (platform_admin(), ada, 200),
            (platform_admin(), stranger, 200),
        ]
        for headers, wallet, status in cases:
            for path in ("", "/balance", "/transactions"):
                response = await http.get(f"/wallet/{wallet['id']}{path}", headers=headers)
                assert response.status_code == status, (path, wallet["owner"], response.text)
                if status == 404:
                    assert response.json()["error"]["code"] == "resource_missing"

    async def test_listing(self, http: httpx.AsyncClient, tenant: str) -> None:
        ada = await create_wallet(http, user("usr_ada", tenant), owner=None)
        bob = await create_wallet(http, user("usr_bob", tenant), owner=None)

        async def ids(headers: dict[str, str], query: str = "") -> set[str]:
            response = await http.get(f"/wallet?limit=100{query}", headers=headers)
            assert response.status_code == 200, response.text
            return {w["id"] for w in response.json()["data"]}

        assert await ids(user("usr_ada", tenant)) == {ada["id"]}
        assert await ids(user("usr_ada", tenant), "&owner=usr_bob") == set()
        assert await ids(admin(tenant)) == {ada["id"], bob["id"]}
        assert await ids(key(tenant)) == {ada["id"], bob["id"]}
        assert await ids(key(tenant, livemode=True)) == set()
        assert await ids(key(new_tenant())) == set()
        assert await ids(platform_admin(), f"&tenant_id={tenant}") == {ada["id"], bob["id"]}

    async def test_freezing_is_for_admins_and_keys(
        self, http: httpx.AsyncClient, tenant: str
    ) -> None:
        wallet = await create_wallet(http, user("usr_ada", tenant), owner=None)
        path = f"/wallet/{wallet['id']}/freeze"
        assert (await http.post(path, headers=user("usr_ada", tenant))).status_code == 403
        assert (await http.post(path, headers=platform_admin())).status_code == 403
        assert (await http.post(path, headers=key(new_tenant()))).status_code == 404
        frozen = await http.post(path, headers=admin(tenant))
        assert (frozen.status_code, frozen.json()["status"]) == (200, "frozen")
        again = await http.post(path, headers=key(tenant))
        assert again.json()["status"] == "frozen"
        thawed = await http.post(f"/wallet/{wallet['id']}/unfreeze", headers=key(tenant))
        assert thawed.json()["status"] == "active"

    async def test_money_moves_only_for_the_tenants_own(
        self, http: httpx.AsyncClient, tenant: str
    ) -> None:
        ada = await create_wallet(http, user("usr_ada", tenant), owner=None)
        bob = await create_wallet(http, user("usr_bob", tenant), owner=None)
        await fund(http, ada["id"], 1000, key(tenant))
        transfer = {"from_wallet_id": ada["id"], "to_wallet_id": bob["id"], "amount": 100}
        withdraw = {"wallet_id": ada["id"], "amount": 100, "destination": BANK}
        deposit_body = {"wallet_id": ada["id"], "amount": 100}
        for path, body in (("/wallet/transfer", transfer), ("/wallet/withdraw", withdraw),
                           ("/wallet/deposit", deposit_body)):  # fmt: skip
            assert (await http.post(path, json=body, headers=platform_admin())).status_code == 403
            assert (
                await http.post(path, json=body, headers=user("usr_bob", tenant))
            ).status_code == 404
            assert (await http.post(path, json=body, headers=key(new_tenant()))).status_code == 404
            assert (
                await http.post(path, json=body, headers=key(tenant, livemode=True))
            ).status_code == 404
        assert (await balance(http, ada["id"], key(tenant)))["available"] == 1000
        sent = await http.post("/wallet/transfer", json=transfer, headers=user("usr_ada", tenant))
        assert sent.status_code == 200, sent.text
        assert sent.json()["status"] == "succeeded"
        assert (await balance(http, bob["id"], key(tenant)))["available"] == 100
