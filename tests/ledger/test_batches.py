"""Batches: up to 1,000 transactions in one database transaction, one result per item, and
linked chains that succeed or fail together."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.ledger import (
    OTHER_TENANT,
    as_tenant,
    assert_error,
    assert_verified,
    balance,
    balances,
    batch,
    create_account,
    fund_wallet,
    get_account,
    list_transactions,
    open_books,
    snapshot,
    transfer,
    transfer_body,
)


async def a_thousand_transfers(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Fresh books, and the results of one batch of a thousand transfers of 1 from cash to
    sales, once each is seen created."""
    await open_books(client)
    results = await batch(client, [transfer_body(f"t{n}", "cash", "sales", 1) for n in range(1000)])
    assert {r["status"] for r in results} == {"created"}
    return results


class TestBatch:
    async def test_mixed_results_one_per_item(self, client: httpx.AsyncClient) -> None:
        await open_books(client)
        await fund_wallet(client, 50)
        earlier = await transfer(
            client, as_tenant(), debit="cash", credit="sales", amount=5, reference_id="earlier"
        )
        results = await batch(
            client,
            [
                transfer_body("new", "cash", "sales", 10),
                transfer_body("earlier", "cash", "sales", 5),
                transfer_body("earlier", "cash", "sales", 6),
                transfer_body("ghost", "cash", "acc_missing", 10),
                transfer_body("overdraw", "wallet", "merchant", 51),
                transfer_body("lopsided", "cash", "sales_eur", 10),
            ],
        )
        assert [r["status"] for r in results] == [
            "created",
            "exists",
            "failed",
            "failed",
            "failed",
            "failed",
        ]
        assert results[0]["transaction_id"].startswith("txn_")
        assert results[1]["transaction_id"] == earlier["id"]
        assert [(r["error"]["code"], r["error"]["param"]) for r in results[2:]] == [
            ("reference_conflict", "reference_id"),
            ("resource_missing", "entries[1][account_id]"),
            ("insufficient_funds", "entries[0]"),
            ("transaction_unbalanced", "entries"),
        ]
        assert all(r["transaction_id"] is None for r in results[2:])
        assert "error" not in results[0]
        assert "error" not in results[1]
        listed = {t["reference_id"] for t in await list_transactions(client)}
        assert listed == {"fund", "earlier", "new"}
        assert (await balances(client, "sales"))["sales"][0] == 15
        await assert_verified(client)

    async def test_linked_chain_is_all_or_nothing(self, client: httpx.AsyncClient) -> None:
        books = await open_books(client)
        await fund_wallet(client, 100)
        before = await snapshot(client, books)
        results = await batch(
            client,
            [
                {**transfer_body("c1", "cash", "sales", 10), "linked": True},
                {**transfer_body("c2", "wallet", "merchant", 60), "linked": True},
                transfer_body("c3", "wallet", "merchant", 60),
                transfer_body("after", "cash", "sales", 1),
            ],
        )
        assert [r["status"] for r in results] == ["failed", "failed", "failed", "created"]
        assert [r["error"]["code"] for r in results[:3]] == [
            "linked_event_failed",
            "linked_event_failed",
            "insufficient_funds",
        ]
        assert {t["reference_id"] for t in await list_transactions(client)} == {"fund", "after"}
        after = await snapshot(client, books)
        assert after["accounts"]["wallet"] == before["accounts"]["wallet"]
        assert after["accounts"]["merchant"] == before["accounts"]["merchant"]
        assert after["accounts"]["sales"][0][0] == 1
        # The same chain within the funds posts whole.
        results = await batch(
            client,
            [
                {**transfer_body("d1", "cash", "sales", 10), "linked": True},
                {**transfer_body("d2", "wallet", "merchant", 60), "linked": True},
                transfer_body("d3", "wallet", "merchant", 40),
            ],
        )
        assert [r["status"] for r in results] == ["created"] * 3
        assert (await balances(client, "wallet"))["wallet"] == (0, 0, 0, 0)
        await assert_verified(client)

    async def test_trailing_linked_item_leaves_the_chain_open(
        self, client: httpx.AsyncClient
    ) -> None:
        await open_books(client)
        results = await batch(
            client,
            [
                transfer_body("alone", "cash", "sales", 1),
                {**transfer_body("o1", "cash", "sales", 2), "linked": True},
                {**transfer_body("o2", "cash", "sales", 3), "linked": True},
            ],
        )
        assert [r["status"] for r in results] == ["created", "failed", "failed"]
        assert results[1]["error"]["code"] == "linked_event_failed"
        assert (results[2]["error"]["code"], results[2]["error"]["param"]) == (
            "linked_event_chain_open",
            "linked",
        )
        assert [t["reference_id"] for t in await list_transactions(client)] == ["alone"]
        assert (await balances(client, "sales"))["sales"][0] == 1
        await assert_verified(client)

    async def test_duplicate_reference_within_one_batch(self, client: httpx.AsyncClient) -> None:
        await open_books(client)
        results = await batch(
            client,
            [
                transfer_body("dup", "cash", "sales", 10),
                transfer_body("dup", "cash", "sales", 10),
                transfer_body("dup", "cash", "sales", 11),
            ],
        )
        assert [r["status"] for r in results] == ["created", "exists", "failed"]
        assert results[1]["transaction_id"] == results[0]["transaction_id"]
        assert results[2]["error"]["code"] == "reference_conflict"
        assert [t["id"] for t in await list_transactions(client)] == [results[0]["transaction_id"]]
        assert (await balances(client, "sales"))["sales"][0] == 10
        await assert_verified(client)

    @pytest.mark.parametrize(
        ("transactions", "code", "param"),
        [
            pytest.param(
                [
                    transfer_body("ok", "cash", "sales", 10),
                    {"entries": transfer_body("x", "cash", "sales", 10)["entries"]},
                ],
                "parameter_missing",
                "transactions[1][reference_id]",
                id="an-item-without-its-reference",
            ),
            pytest.param(
                [
                    transfer_body("ok", "cash", "sales", 10),
                    {
                        "reference_id": "x",
                        "entries": [
                            {"account_id": "cash", "amount": 1.5, "direction": "debit"},
                            {"account_id": "sales", "amount": 10, "direction": "credit"},
                        ],
                    },
                ],
                "parameter_invalid",
                "transactions[1][entries][0][amount]",
                id="the-nested-param-named",
            ),
            pytest.param(
                [transfer_body(f"t{n}", "cash", "sales", 1) for n in range(1001)],
                "parameter_invalid",
                "transactions",
                id="a-thousand-and-one-items",
            ),
        ],
    )
    async def test_an_invalid_batch_is_refused_whole(
        self,
        client: httpx.AsyncClient,
        transactions: list[dict[str, Any]],
        code: str,
        param: str,
    ) -> None:
        books = await open_books(client)
        before = await snapshot(client, books)
        response = await client.post(
            "/ledger/transactions/batch", json={"transactions": transactions}, headers=as_tenant()
        )
        assert_error(response, 400, code, param)
        assert await snapshot(client, books) == before

    async def test_thousand_items_are_accepted(self, client: httpx.AsyncClient) -> None:
        results = await a_thousand_transfers(client)
        assert len({r["transaction_id"] for r in results}) == 1000
        cash = await get_account(client, as_tenant(), "cash")
        assert (cash["balance"]["posted"], cash["version"]) == (1000, 1000)
        assert (await get_account(client, as_tenant(), "sales"))["balance"]["posted"] == 1000

    async def test_thousand_item_batch_keeps_entry_order(self, client: httpx.AsyncClient) -> None:
        await a_thousand_transfers(client)
        response = await client.get(
            "/ledger/accounts/cash/entries", params={"limit": 100}, headers=as_tenant()
        )
        newest = [(e["version_after"], e["balance_after"]) for e in response.json()["data"]]
        assert newest == [(v, v) for v in range(1000, 900, -1)]
        now = await client.get("/ledger/accounts/cash/balance", headers=as_tenant())
        assert (now.json()["posted"], now.json()["version"]) == (1000, 1000)
        await assert_verified(client)

    async def test_many_transfers_on_one_account_sum_up(self, client: httpx.AsyncClient) -> None:
        await open_books(client)
        await fund_wallet(client, 10_000)
        amounts = [(n % 7) + 1 for n in range(300)]
        results = await batch(
            client,
            [
                transfer_body(f"p{n}", "wallet", "merchant" if n % 2 else "sales", amount)
                for n, amount in enumerate(amounts)
            ],
        )
        assert {r["status"] for r in results} == {"created"}
        wallet = await get_account(client, as_tenant(), "wallet")
        assert wallet["balance"]["posted"] == 10_000 - sum(amounts)
        entries = []
        cursor: dict[str, Any] = {}
        while True:
            response = await client.get(
                "/ledger/accounts/wallet/entries",
                params={"limit": 100, **cursor},
                headers=as_tenant(),
            )
            page = response.json()
            entries.extend(page["data"])
            if not page["has_more"]:
                break
            cursor = {"starting_after": page["data"][-1]["id"]}
        assert wallet["version"] == len(entries) == 301
        # Each entry shows the running balance and version right after it.
        assert [e["version_after"] for e in entries] == list(range(301, 0, -1))
        assert entries[0]["balance_after"] == wallet["balance"]["posted"]
        running = 10_000
        for entry, amount in zip(reversed(entries[:-1]), amounts, strict=True):
            running -= amount
            assert (entry["amount"], entry["balance_after"]) == (amount, running)
        await assert_verified(client)

    async def test_another_tenants_account_fails_the_item(self, client: httpx.AsyncClient) -> None:
        await open_books(client)
        theirs = await create_account(client, as_tenant(OTHER_TENANT), type="revenue")
        results = await batch(client, [transfer_body("x", "cash", theirs["id"], 10)])
        assert results[0]["status"] == "failed"
        assert (results[0]["error"]["code"], results[0]["error"]["param"]) == (
            "resource_missing",
            "entries[1][account_id]",
        )
        assert balance(await get_account(client, as_tenant(OTHER_TENANT), theirs["id"]))[0] == 0
        assert await list_transactions(client) == []

    async def test_unauthenticated(self, client: httpx.AsyncClient) -> None:
        books = await open_books(client)
        before = await snapshot(client, books)
        response = await client.post(
            "/ledger/transactions/batch",
            json={"transactions": [transfer_body("x", "cash", "sales", 10)]},
        )
        assert_error(response, 401, "identity_missing", None)
        assert await snapshot(client, books) == before
