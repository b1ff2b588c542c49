"""Ledger transactions: balanced double entries, idempotent references, reading them back
and listing them. Every scenario that moves money ends with a clean `GET /ledger/verify`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.support.ledger import (
    ELSEWHERE,
    OTHER_TENANT,
    TENANT,
    as_tenant,
    assert_error,
    assert_verified,
    balance,
    balances,
    create_account,
    create_transaction,
    fund_wallet,
    get_account,
    get_transaction,
    later,
    list_transactions,
    open_books,
    snapshot,
    transfer,
    transfer_body,
)

SEED = {
    "reference_id": "pay_987",
    "description": "Payment for Service",
    "entries": [
        {"account_id": "acc_revenue", "amount": 100, "direction": "credit"},
        {"account_id": "acc_assets", "amount": -100, "direction": "debit"},
    ],
}


class TestCreateTransaction:
    async def test_seed_document_transaction(self, client: httpx.AsyncClient) -> None:
        revenue = await create_account(client, as_tenant(), type="revenue", code="acc_revenue")
        assets = await create_account(client, as_tenant(), type="asset", code="acc_assets")
        response = await client.post("/ledger/transactions", json=SEED, headers=as_tenant())
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["id"].startswith("txn_")
        assert created["object"] == "ledger.transaction"
        assert created["reference_id"] == "pay_987"
        assert created["description"] == "Payment for Service"
        assert (created["kind"], created["status"]) == ("standard", "posted")
        assert (created["parent_id"], created["posted_by"], created["reversed_by"]) == (
            None,
            None,
            None,
        )
        # The debit written as -100 is the same debit of 100.
        assert [
            (e["account_id"], e["direction"], e["amount"], e["currency"], e["pending"])
            for e in created["entries"]
        ] == [
            (revenue["id"], "credit", 100, "usd", False),
            (assets["id"], "debit", 100, "usd", False),
        ]
        assert await get_transaction(client, created["id"]) == created
        for code in ("acc_revenue", "acc_assets"):
            account = await get_account(client, as_tenant(), code)
            assert balance(account) == (100, 0, 0, 100)
            assert account["version"] == 1
        await assert_verified(client)

    async def test_mixed_currencies_balanced_per_currency(self, client: httpx.AsyncClient) -> None:
        await open_books(client)
        created = await create_transaction(
            client,
            as_tenant(),
            reference_id="fx",
            entries=[
                {"account_id": "cash", "amount": 100, "direction": "debit"},
                {"account_id": "sales", "amount": 100, "direction": "credit"},
                {"account_id": "cash_eur", "amount": 90, "direction": "debit"},
                {"account_id": "sales_eur", "amount": 90, "direction": "credit"},
            ],
        )
        assert [e["currency"] for e in created["entries"]] == ["usd", "usd", "eur", "eur"]
        found = await balances(client, "cash", "sales", "cash_eur", "sales_eur")
        assert [b[0] for b in found.values()] == [100, 100, 90, 90]
        await assert_verified(client)

    @pytest.mark.parametrize(
        ("change", "code", "param"),
        [
            ({"entries": [{"account_id": "cash", "amount": 1, "direction": "debit"}]},
             "parameter_invalid", "entries"),
            ({"entries": []}, "parameter_invalid", "entries"),
            ({"amounts": (0, 0)}, "parameter_invalid", "entries[0]"),
            ({"amounts": (100, -100)}, "parameter_invalid", "entries[1]"),
            ({"amounts": (1_000_000_000_000, 1_000_000_000_000)},
             "parameter_invalid", "entries[0][amount]"),
            ({"amounts": (-1_000_000_000_000, 1_000_000_000_000)},
             "parameter_invalid", "entries[0][amount]"),
            ({"amounts": (100.5, 100.5)}, "parameter_invalid", "entries[0][amount]"),
            ({"amounts": ("100 usd", "100 usd")}, "parameter_invalid", "entries[0][amount]"),
            ({"amounts": ("1e2", "1e2")}, "parameter_invalid", "entries[0][amount]"),
            ({"amounts": (None, None)}, "parameter_invalid", "entries[0][amount]"),
            ({"direction": "sideways"}, "parameter_invalid", "entries[0][direction]"),
            ({"currency": "usd"}, "parameter_unknown", "currency"),
            ({"entry_field": {"memo": "x"}}, "parameter_unknown", "entries[0][memo]"),
            ({"reference_id": ""}, "parameter_invalid", "reference_id"),
            ({"reference_id": None}, "parameter_invalid", "reference_id"),
            ({"drop": "reference_id"}, "parameter_missing", "reference_id"),
            ({"linked": True}, "parameter_invalid", "linked"),
            ({"pending": True, "expires_at": "2030-01-01T00:00:00"}, "parameter_invalid", None),
            ({"expires_at": "2999-01-01T00:00:00Z"}, "parameter_invalid", None),
        ],
        ids=[
            "one-entry", "no-entries", "zero", "negative-credit", "too-large",
            "too-large-negative", "fractional", "string-words", "string-exponent", "null",
            "unknown-direction", "unknown-field", "unknown-entry-field", "empty-reference",
            "null-reference", "missing-reference", "linked-outside-batch",
            "expiry-without-zone", "expiry-without-pending",
        ],
    )  # fmt: skip
    async def test_invalid_body_writes_nothing(
        self, client: httpx.AsyncClient, change: dict[str, Any], code: str, param: str | None
    ) -> None:
        books = await open_books(client)
        before = await snapshot(client, books)
        body = transfer_body("bad", "cash", "sales", 100)
        amounts = change.pop("amounts", None)
        if amounts is not None:
            for entry, amount in zip(body["entries"], amounts, strict=True):
                entry["amount"] = amount
        if (direction := change.pop("direction", None)) is not None:
            body["entries"][0]["direction"] = direction
        if (extra := change.pop("entry_field", None)) is not None:
            body["entries"][0].update(extra)
        if (dropped := change.pop("drop", None)) is not None:
            del body[dropped]
        body.update(change)
        response = await client.post("/ledger/transactions", json=body, headers=as_tenant())
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("invalid_request_error", code)
        if param is not None:
            assert error["param"] == param
        assert await snapshot(client, books) == before
        assert before["transactions"] == []

    async def test_expiry_without_pending_names_the_param(self, client: httpx.AsyncClient) -> None:
        await open_books(client)
        body = {**transfer_body("bad", "cash", "sales", 100), "expires_at": later(60)}
        response = await client.post("/ledger/transactions", json=body, headers=as_tenant())
        assert_error(response, 400, "parameter_invalid", "expires_at")

    async def test_expiry_in_the_past_writes_nothing(self, client: httpx.AsyncClient) -> None:
        books = await open_books(client)
        before = await snapshot(client, books)
        body = {
            **transfer_body("late", "cash", "sales", 100),
            "pending": True,
            "expires_at": later(-5),
        }
        response = await client.post("/ledger/transactions", json=body, headers=as_tenant())
        assert_error(response, 400, "parameter_invalid", "expires_at")
        assert await snapshot(client, books) == before

    @pytest.mark.parametrize(
        "amount",
        [
            # 100.0 is an integer as JSON Schema counts (tests/unit/shared/test_body.py).
            pytest.param(100.5, id="fraction"),
            pytest.param("1e2", id="exponent-string"),
            pytest.param(True, id="boolean"),
        ],
    )
    async def test_non_integer_json_amount_is_refused(
        self, client: httpx.AsyncClient, amount: Any
    ) -> None:
        books = await open_books(client)
        before = await snapshot(client, books)
        body = transfer_body("loose", "cash", "sales", 1)
        for entry in body["entries"]:
            entry["amount"] = amount
        response = await client.post("/ledger/transactions", json=body, headers=as_tenant())
        assert_error(response, 400, "parameter_invalid", "entries[0][amount]")
        assert await snapshot(client, books) == before

    async def test_digit_strings_count_as_integers_in_form_bodies_only(
        self, client: httpx.AsyncClient
    ) -> None:
        # A form carries only text; JSON carries types, and "100" there is a string (as Stripe).
        await open_books(client)
        body = transfer_body("texty", "cash", "sales", 1)
        for entry in body["entries"]:
            entry["amount"] = "100"
        as_json = await client.post("/ledger/transactions", json=body, headers=as_tenant())
        assert_error(as_json, 400, "parameter_invalid", "entries[0][amount]")
        form = "reference_id=texty" + "".join(
            f"&entries[{i}][account_id]={e['account_id']}&entries[{i}][amount]=100"
            f"&entries[{i}][direction]={e['direction']}"
            for i, e in enumerate(body["entries"])
        )
        response = await client.post(
            "/ledger/transactions",
            content=form,
            headers={**as_tenant(), "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 201, response.text
        assert [e["amount"] for e in response.json()["entries"]] == [100, 100]

    @pytest.mark.parametrize(
        "entries",
        [
            pytest.param([("cash", 100, "debit"), ("sales", 99, "credit")], id="lopsided"),
            # 190 debited and 190 credited overall, but not per currency.
            pytest.param(
                [
                    ("cash", 100, "debit"),
                    ("sales", 90, "credit"),
                    ("cash_eur", 90, "debit"),
                    ("sales_eur", 100, "credit"),
                ],
                id="not-per-currency",
            ),
            pytest.param(
                [("cash", 100, "debit"), ("sales_eur", 100, "credit")], id="another-currency"
            ),
        ],
    )
    async def test_unbalanced_writes_nothing(
        self, client: httpx.AsyncClient, entries: list[tuple[str, int, str]]
    ) -> None:
        books = await open_books(client)
        before = await snapshot(client, books)
        response = await client.post(
            "/ledger/transactions",
            json={
                "reference_id": "unbalanced",
                "entries": [
                    {"account_id": account, "amount": amount, "direction": direction}
                    for account, amount, direction in entries
                ],
            },
            headers=as_tenant(),
        )
        assert_error(response, 400, "transaction_unbalanced", "entries")
        assert await snapshot(client, books) == before
        await assert_verified(client)

    async def test_unknown_account_writes_nothing(self, client: httpx.AsyncClient) -> None:
        books = await open_books(client)
        before = await snapshot(client, books)
        response = await client.post(
            "/ledger/transactions",
            json=transfer_body("ghost", "cash", "acc_missing", 100),
            headers=as_tenant(),
        )
        assert_error(response, 404, "resource_missing", "entries[1][account_id]")
        assert await snapshot(client, books) == before

    @pytest.mark.parametrize(
        ("tenant_id", "livemode", "position"),
        [
            pytest.param(OTHER_TENANT, False, 1, id="other-tenant-credited"),
            pytest.param(TENANT, True, 0, id="live-debited"),
        ],
    )
    async def test_an_account_of_another_tenant_or_mode_writes_nothing(
        self, client: httpx.AsyncClient, tenant_id: str, livemode: bool, position: int
    ) -> None:
        books = await open_books(client)
        theirs = await create_account(
            client, as_tenant(tenant_id, livemode=livemode), type="revenue"
        )
        before = await snapshot(client, books)
        debit, credit = (theirs["id"], "sales") if position == 0 else ("cash", theirs["id"])
        response = await client.post(
            "/ledger/transactions",
            json=transfer_body("theirs", debit, credit, 100),
            headers=as_tenant(),
        )
        assert_error(response, 404, "resource_missing", f"entries[{position}][account_id]")
        assert await snapshot(client, books) == before
        untouched = await get_account(client, as_tenant(tenant_id, livemode=livemode), theirs["id"])
        assert balance(untouched) == (0, 0, 0, 0)

    async def test_insufficient_funds_writes_nothing(self, client: httpx.AsyncClient) -> None:
        books = await open_books(client)
        await fund_wallet(client, 100)
        before = await snapshot(client, books)
        response = await client.post(
            "/ledger/transactions",
            json={
                "reference_id": "too-much",
                "entries": [
                    {"account_id": "merchant", "amount": 101, "direction": "credit"},
                    {"account_id": "wallet", "amount": 101, "direction": "debit"},
                ],
            },
            headers=as_tenant(),
        )
        error = assert_error(response, 402, "insufficient_funds", "entries[1]")
        assert error["type"] == "invalid_request_error"
        assert await snapshot(client, books) == before
        # Exactly the funds held is fine.
        await transfer(
            client, as_tenant(), debit="wallet", credit="merchant", amount=100, reference_id="all"
        )
        assert (await balances(client, "wallet"))["wallet"] == (0, 0, 0, 0)
        await assert_verified(client)

    async def test_a_code_spelling_another_id_does_not_capture_its_entries(
        self, client: httpx.AsyncClient
    ) -> None:
        await open_books(client)
        target = await create_account(client, as_tenant(), type="revenue")
        response = await client.post(
            "/ledger/accounts",
            json={"name": "Decoy", "type": "revenue", "currency": "usd", "code": target["id"]},
            headers=as_tenant(),
        )
        # Refusing such a code is one correct answer; the other is that ids win.
        if response.status_code != 201:
            assert response.status_code in (400, 409), response.text
            return
        decoy = response.json()
        await transfer(
            client, as_tenant(), debit="cash", credit=target["id"], amount=70, reference_id="r"
        )
        assert (await get_account(client, as_tenant(), target["id"]))["balance"]["posted"] == 70
        assert (await get_account(client, as_tenant(), decoy["id"]))["balance"]["posted"] == 0

    async def test_unauthenticated(self, client: httpx.AsyncClient) -> None:
        books = await open_books(client)
        before = await snapshot(client, books)
        response = await client.post(
            "/ledger/transactions", json=transfer_body("anon", "cash", "sales", 100)
        )
        assert_error(response, 401, "identity_missing", None)
        assert await snapshot(client, books) == before


class TestIdempotentReplay:
    async def test_same_body_returns_the_original(self, client: httpx.AsyncClient) -> None:
        await create_account(client, as_tenant(), type="revenue", code="acc_revenue")
        await create_account(client, as_tenant(), type="asset", code="acc_assets")
        first = await client.post("/ledger/transactions", json=SEED, headers=as_tenant())
        assert first.status_code == 201, first.text
        assert "idempotent-replayed" not in first.headers
        again = await client.post("/ledger/transactions", json=SEED, headers=as_tenant())
        assert again.status_code == 200, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert [t["id"] for t in await list_transactions(client)] == [first.json()["id"]]
        assert (await get_account(client, as_tenant(), "acc_assets"))["balance"]["posted"] == 100
        await assert_verified(client)

    async def test_another_body_is_a_conflict(self, client: httpx.AsyncClient) -> None:
        books = await open_books(client)
        original = await transfer(
            client, as_tenant(), debit="cash", credit="sales", amount=100, reference_id="pay_1"
        )
        before = await snapshot(client, books)
        for body in (
            transfer_body("pay_1", "cash", "sales", 101),
            {**transfer_body("pay_1", "cash", "sales", 100), "description": "changed"},
            {**transfer_body("pay_1", "cash", "sales", 100), "pending": True},
        ):
            response = await client.post("/ledger/transactions", json=body, headers=as_tenant())
            assert_error(response, 409, "reference_conflict", "reference_id")
        assert await snapshot(client, books) == before
        assert [t["id"] for t in before["transactions"]] == [original["id"]]
        await assert_verified(client)

    async def test_replay_after_the_account_was_drained(self, client: httpx.AsyncClient) -> None:
        await open_books(client)
        await fund_wallet(client, 100)
        body = transfer_body("spend", "wallet", "merchant", 100)
        first = await client.post("/ledger/transactions", json=body, headers=as_tenant())
        assert first.status_code == 201, first.text
        assert (await balances(client, "wallet"))["wallet"] == (0, 0, 0, 0)
        again = await client.post("/ledger/transactions", json=body, headers=as_tenant())
        assert again.status_code == 200, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert (await balances(client, "wallet"))["wallet"] == (0, 0, 0, 0)
        await assert_verified(client)

    async def test_same_reference_in_another_tenant_or_mode_is_independent(
        self, client: httpx.AsyncClient
    ) -> None:
        await open_books(client)
        await open_books(client, as_tenant(OTHER_TENANT))
        await open_books(client, as_tenant(livemode=True))
        ids = set()
        for headers in (as_tenant(), as_tenant(OTHER_TENANT), as_tenant(livemode=True)):
            created = await transfer(
                client, headers, debit="cash", credit="sales", amount=5, reference_id="same"
            )
            ids.add(created["id"])
        assert len(ids) == 3
        await assert_verified(client)


class TestGetTransaction:
    async def test_found(self, client: httpx.AsyncClient) -> None:
        await open_books(client)
        created = await transfer(
            client,
            as_tenant(),
            debit="cash",
            credit="sales",
            amount=100,
            reference_id="r",
            metadata={"order": "o_1"},
        )
        found = await get_transaction(client, created["id"])
        assert found == created
        assert found["metadata"] == {"order": "o_1"}
        assert found["livemode"] is False

    @pytest.mark.parametrize(("tenant_id", "livemode"), ELSEWHERE)
    async def test_other_tenant_and_mode_get_404(
        self, client: httpx.AsyncClient, tenant_id: str, livemode: bool
    ) -> None:
        await open_books(client)
        created = await transfer(
            client, as_tenant(), debit="cash", credit="sales", amount=100, reference_id="r"
        )
        response = await client.get(
            f"/ledger/transactions/{created['id']}", headers=as_tenant(tenant_id, livemode=livemode)
        )
        assert_error(response, 404, "resource_missing", "id")

    async def test_not_found(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/ledger/transactions/txn_missing", headers=as_tenant())
        assert_error(response, 404, "resource_missing", "id")

    async def test_unauthenticated(self, client: httpx.AsyncClient) -> None:
        await open_books(client)
        created = await transfer(
            client, as_tenant(), debit="cash", credit="sales", amount=100, reference_id="r"
        )
        response = await client.get(f"/ledger/transactions/{created['id']}")
        assert_error(response, 401, "identity_missing", None)


class TestListTransactions:
    async def test_newest_first_with_pagination(self, client: httpx.AsyncClient) -> None:
        await open_books(client)
        ids = [
            (
                await transfer(
                    client,
                    as_tenant(),
                    debit="cash",
                    credit="sales",
                    amount=1,
                    reference_id=f"r{n}",
                )
            )["id"]
            for n in range(5)
        ]
        newest_first = list(reversed(ids))
        response = await client.get("/ledger/transactions?limit=2", headers=as_tenant())
        page = response.json()
        assert (page["object"], page["url"], page["has_more"]) == (
            "list",
            "/ledger/transactions",
            True,
        )
        assert [t["id"] for t in page["data"]] == newest_first[:2]
        response = await client.get(
            f"/ledger/transactions?limit=3&starting_after={newest_first[1]}", headers=as_tenant()
        )
        assert [t["id"] for t in response.json()["data"]] == newest_first[2:]
        assert response.json()["has_more"] is False

    async def test_filters_by_account_and_reference(self, client: httpx.AsyncClient) -> None:
        books = await open_books(client)
        to_sales = await transfer(
            client, as_tenant(), debit="cash", credit="sales", amount=1, reference_id="a"
        )
        to_wallet = await transfer(
            client, as_tenant(), debit="cash", credit="wallet", amount=1, reference_id="b"
        )
        by_account = await list_transactions(client, {"account_id": books["sales"]})
        assert [t["id"] for t in by_account] == [to_sales["id"]]
        by_cash = await list_transactions(client, {"account_id": books["cash"]})
        assert [t["id"] for t in by_cash] == [to_wallet["id"], to_sales["id"]]
        by_reference = await list_transactions(client, {"reference_id": "b"})
        assert [t["id"] for t in by_reference] == [to_wallet["id"]]
        assert await list_transactions(client, {"reference_id": "nope"}) == []

    async def test_filters_by_creation_time(self, client: httpx.AsyncClient) -> None:
        await open_books(client)
        created = await transfer(
            client, as_tenant(), debit="cash", credit="sales", amount=1, reference_id="a"
        )
        moment = created["created"]
        found = await list_transactions(client, {"created[gte]": moment - 5})
        assert [t["id"] for t in found] == [created["id"]]
        assert await list_transactions(client, {"created[gte]": moment + 5}) == []
        found = await list_transactions(client, {"created[lte]": moment + 5})
        assert [t["id"] for t in found] == [created["id"]]
        assert await list_transactions(client, {"created[lte]": moment - 5}) == []
        response = await client.get(
            "/ledger/transactions", params={"created[gte]": "soon"}, headers=as_tenant()
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "parameter_invalid"

    async def test_bad_creation_time_names_the_param(self, client: httpx.AsyncClient) -> None:
        response = await client.get(
            "/ledger/transactions", params={"created[gte]": "soon"}, headers=as_tenant()
        )
        assert_error(response, 400, "parameter_invalid", "created[gte]")

    async def test_created_lte_includes_its_own_second(self, client: httpx.AsyncClient) -> None:
        await open_books(client)
        # Well inside a second, so the exact timestamp is past the truncated `created`.
        fraction = time.time() % 1
        if not 0.1 < fraction < 0.5:
            await asyncio.sleep((1.2 - fraction) % 1)
        created = await transfer(
            client, as_tenant(), debit="cash", credit="sales", amount=1, reference_id="a"
        )
        moment = created["created"]
        found = await list_transactions(client, {"created[gte]": moment, "created[lte]": moment})
        assert [t["id"] for t in found] == [created["id"]]

    async def test_filter_by_account_code(self, client: httpx.AsyncClient) -> None:
        await open_books(client)
        created = await transfer(
            client, as_tenant(), debit="cash", credit="sales", amount=1, reference_id="a"
        )
        found = await list_transactions(client, {"account_id": "sales"})
        assert [t["id"] for t in found] == [created["id"]]

    async def test_other_tenants_and_modes_are_invisible(self, client: httpx.AsyncClient) -> None:
        await open_books(client)
        await open_books(client, as_tenant(OTHER_TENANT))
        await open_books(client, as_tenant(livemode=True))
        mine = await transfer(
            client, as_tenant(), debit="cash", credit="sales", amount=1, reference_id="a"
        )
        for headers in (as_tenant(OTHER_TENANT), as_tenant(livemode=True)):
            await transfer(
                client, headers, debit="cash", credit="sales", amount=1, reference_id="b"
            )
        assert [t["id"] for t in await list_transactions(client)] == [mine["id"]]
        response = await client.get(
            "/ledger/transactions", params={"reference_id": "a"}, headers=as_tenant(OTHER_TENANT)
        )
        assert response.json()["data"] == []

    async def test_unauthenticated(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/ledger/transactions")
        assert_error(response, 401, "identity_missing", None)
