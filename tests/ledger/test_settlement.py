"""What happens to a transaction after it is written: a pending one posted (in full or in
part), voided or lapsed; a posted one reversed. Every scenario that moves money ends with a
clean `GET /ledger/verify`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Literal

import asyncpg
import httpx
import pytest

from tests.conftest import CreateDb, ServiceClient
from tests.support.ledger import (
    ELSEWHERE,
    as_tenant,
    assert_error,
    assert_verified,
    balances,
    create_transaction,
    fund_wallet,
    get_transaction,
    hold,
    list_transactions,
    open_books,
    snapshot,
    transfer,
    transfer_body,
    wait_until,
)

Kind = Literal["hold", "posted"]
# What each action settles: post and void a pending hold, reverse a posted transaction.
SETTLES: dict[str, Kind] = {"post": "hold", "void": "hold", "reverse": "posted"}
# The status each answers with: a reversal is a new transaction, the others change one.
SETTLED = {"post": 200, "void": 200, "reverse": 201}


async def books_with(
    client: httpx.AsyncClient, kind: Kind
) -> tuple[dict[str, str], dict[str, Any]]:
    """Fresh books and one transaction of `kind`: a hold of 100 on a wallet funded with 1000,
    or a posted payment of 300 from cash to sales."""
    books = await open_books(client)
    if kind == "hold":
        await fund_wallet(client, 1000)
        return books, await hold(client, 100)
    paid = await transfer(
        client, as_tenant(), debit="cash", credit="sales", amount=300, reference_id="pay"
    )
    return books, paid


async def act(
    client: httpx.AsyncClient,
    transaction_id: str,
    action: str,
    headers: dict[str, str] | None = None,
    **body: Any,
) -> httpx.Response:
    """`POST /ledger/transactions/{id}/{action}` as the tenant unless told otherwise; a JSON
    body only when given one (a full post sends none)."""
    return await client.post(
        f"/ledger/transactions/{transaction_id}/{action}",
        headers=as_tenant() if headers is None else headers,
        json=body or None,
    )


class TestHold:
    async def test_hold_reserves_funds(self, client: httpx.AsyncClient) -> None:
        await open_books(client)
        await fund_wallet(client, 1000)
        held = await hold(client, 100)
        assert (held["kind"], held["status"], held["expires_at"]) == ("pending", "pending", None)
        assert all(e["pending"] for e in held["entries"])
        found = await balances(client, "wallet", "merchant")
        # Outflows leave `available` at once; inflows only count once posted.
        assert found == {"wallet": (1000, 100, 0, 900), "merchant": (0, 0, 100, 0)}
        too_much = await client.post(
            "/ledger/transactions",
            json=transfer_body("more", "wallet", "merchant", 901),
            headers=as_tenant(),
        )
        assert_error(too_much, 402, "insufficient_funds", "entries[0]")
        await assert_verified(client)

    async def test_hold_beyond_available_funds_is_refused(self, client: httpx.AsyncClient) -> None:
        books = await open_books(client)
        await fund_wallet(client, 100)
        before = await snapshot(client, books)
        response = await client.post(
            "/ledger/transactions",
            json={**transfer_body("big", "wallet", "merchant", 101), "pending": True},
            headers=as_tenant(),
        )
        assert_error(response, 402, "insufficient_funds", "entries[0]")
        assert await snapshot(client, books) == before


class TestPostPending:
    async def test_post_in_full(self, client: httpx.AsyncClient) -> None:
        _, held = await books_with(client, "hold")
        response = await act(client, held["id"], "post")
        assert response.status_code == 200, response.text
        posting = response.json()
        assert (posting["kind"], posting["status"], posting["parent_id"]) == (
            "posting",
            "posted",
            held["id"],
        )
        assert sorted(
            (e["account_id"], e["direction"], e["amount"], e["pending"]) for e in posting["entries"]
        ) == sorted((e["account_id"], e["direction"], e["amount"], False) for e in held["entries"])
        original = await get_transaction(client, held["id"])
        assert (original["status"], original["posted_by"]) == ("archived", posting["id"])
        found = await balances(client, "wallet", "merchant")
        assert found == {"wallet": (900, 0, 0, 900), "merchant": (100, 0, 0, 100)}
        await assert_verified(client)

    async def test_post_in_part_releases_the_rest(self, client: httpx.AsyncClient) -> None:
        _, held = await books_with(client, "hold")
        response = await act(client, held["id"], "post", amount=60)
        assert response.status_code == 200, response.text
        assert sorted(e["amount"] for e in response.json()["entries"]) == [60, 60]
        found = await balances(client, "wallet", "merchant")
        assert found == {"wallet": (940, 0, 0, 940), "merchant": (60, 0, 0, 60)}
        assert (await get_transaction(client, held["id"]))["status"] == "archived"
        await assert_verified(client)

    @pytest.mark.parametrize(
        ("amount", "code"),
        [
            pytest.param(101, "amount_too_large", id="more-than-held"),
            (0, "parameter_invalid"),
            (-5, "parameter_invalid"),
            (1_000_000_000_000, "parameter_invalid"),
            (1.5, "parameter_invalid"),
        ],
    )
    async def test_a_partial_amount_it_cannot_post_is_refused(
        self, client: httpx.AsyncClient, amount: Any, code: str
    ) -> None:
        books, held = await books_with(client, "hold")
        before = await snapshot(client, books)
        response = await act(client, held["id"], "post", amount=amount)
        assert_error(response, 400, code, "amount")
        assert await snapshot(client, books) == before
        assert (await get_transaction(client, held["id"]))["status"] == "pending"

    async def test_partial_post_of_more_than_two_entries_is_refused(
        self, client: httpx.AsyncClient
    ) -> None:
        books = await open_books(client)
        held = await create_transaction(
            client,
            as_tenant(),
            reference_id="split",
            pending=True,
            entries=[
                {"account_id": "cash", "amount": 100, "direction": "debit"},
                {"account_id": "sales", "amount": 60, "direction": "credit"},
                {"account_id": "merchant", "amount": 40, "direction": "credit"},
            ],
        )
        before = await snapshot(client, books)
        response = await act(client, held["id"], "post", amount=50)
        assert_error(response, 400, "partial_post_unsupported", "amount")
        assert await snapshot(client, books) == before
        # In full it posts.
        response = await act(client, held["id"], "post")
        assert response.status_code == 200, response.text
        found = await balances(client, "cash", "sales", "merchant")
        assert [b[0] for b in found.values()] == [100, 60, 40]
        await assert_verified(client)


class TestVoidPending:
    async def test_void_releases_the_hold(self, client: httpx.AsyncClient) -> None:
        _, held = await books_with(client, "hold")
        response = await act(client, held["id"], "void")
        assert response.status_code == 200, response.text
        voided = response.json()
        assert (voided["id"], voided["status"], voided["posted_by"]) == (
            held["id"],
            "voided",
            None,
        )
        found = await balances(client, "wallet", "merchant")
        assert found == {"wallet": (1000, 0, 0, 1000), "merchant": (0, 0, 0, 0)}
        await assert_verified(client)


class TestExpiry:
    async def test_a_lapsed_hold_frees_funds_before_any_sweep(
        self, client: httpx.AsyncClient
    ) -> None:
        await open_books(client)
        await fund_wallet(client, 1000)
        lapses_at = time.time() + 1.0
        held = await hold(client, 100, expires_in=1.0)
        assert abs(held["expires_at"] - lapses_at) <= 1
        assert (await balances(client, "wallet"))["wallet"] == (1000, 100, 0, 900)
        await wait_until(lapses_at + 0.1)
        found = await balances(client, "wallet", "merchant")
        assert found == {"wallet": (1000, 0, 0, 1000), "merchant": (0, 0, 0, 0)}
        assert (await get_transaction(client, held["id"]))["status"] == "expired"
        # The whole balance is spendable again, and the lapsed hold can no longer be posted.
        await transfer(
            client, as_tenant(), debit="wallet", credit="sales", amount=1000, reference_id="all"
        )
        assert_error(await act(client, held["id"], "post"), 400, "transaction_expired", "id")
        assert_error(await act(client, held["id"], "void"), 400, "transaction_expired", "id")
        await assert_verified(client)

    async def test_the_sweeper_makes_the_expiry_final(
        self, create_db: CreateDb, service_client: ServiceClient
    ) -> None:
        dsn = await create_db("ledger")
        async with service_client("ledger", database_url=dsn, sweep_interval=0.2) as client:
            await open_books(client)
            await fund_wallet(client, 1000)
            held = await hold(client, 100, expires_in=1.0)
            kept = await hold(client, 50, reference_id="kept")
            conn = await asyncpg.connect(dsn)
            try:
                for _ in range(50):
                    outcome = await conn.fetchval(
                        "SELECT outcome FROM resolutions WHERE pending_id = $1", held["id"]
                    )
                    if outcome is not None:
                        break
                    await asyncio.sleep(0.1)
                assert outcome == "expired"
                holds = await conn.fetch("SELECT transaction_id FROM holds")
                assert [row["transaction_id"] for row in holds] == [kept["id"], kept["id"]]
            finally:
                await conn.close()
            assert (await get_transaction(client, held["id"]))["status"] == "expired"
            assert (await get_transaction(client, kept["id"]))["status"] == "pending"
            assert (await balances(client, "wallet"))["wallet"] == (1000, 50, 0, 950)
            await assert_verified(client)

    async def test_a_void_racing_the_sweeper_releases_the_hold_once(
        self, create_db: CreateDb, service_client: ServiceClient
    ) -> None:
        dsn = await create_db("ledger")
        async with service_client("ledger", database_url=dsn, sweep_interval=0.1) as client:
            books = await open_books(client)
            await fund_wallet(client, 1000)
            await hold(client, 200, reference_id="kept")
            lapses_at = time.time() + 2.0
            lapsing = await hold(client, 100, reference_id="lapsing", expires_in=2.0)
            blocker = await asyncpg.connect(dsn)
            try:

                async def waiting() -> int:
                    found = await blocker.fetchval(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                    return int(found)

                async def wait_for(count: int) -> None:
                    # Generous: a loaded CI machine may take seconds to schedule the sweeper.
                    for _ in range(500):
                        if await waiting() >= count:
                            return
                        await asyncio.sleep(0.02)
                    raise AssertionError(f"never saw {count} waiting backends")

                transaction = blocker.transaction()
                await transaction.start()
                await blocker.execute(
                    "SELECT 1 FROM accounts WHERE id = ANY($1) FOR UPDATE",
                    [books["wallet"], books["merchant"]],
                )
                # The void reads the hold while it is still pending, then waits for the lock.
                void = asyncio.create_task(act(client, lapsing["id"], "void"))
                await wait_for(1)
                assert time.time() < lapses_at
                # Once lapsed, the sweeper reads the same hold and queues behind the void. On a
                # loaded machine it is sometimes not seen queuing in time (the full suite on CI,
                # twice); the outcome below must hold either way, so seeing it is best effort.
                await wait_until(lapses_at + 0.1)
                with contextlib.suppress(AssertionError):
                    await wait_for(2)
                await transaction.commit()
                response = await void
            finally:
                await blocker.close()
            assert response.status_code == 200, response.text
            await asyncio.sleep(0.3)  # the sweeper's transaction, unblocked, commits
            assert (await balances(client, "wallet"))["wallet"] == (1000, 200, 0, 800)
            await assert_verified(client)


class TestReverse:
    async def test_reversal_undoes_and_links_both_ways(self, client: httpx.AsyncClient) -> None:
        await open_books(client)
        await fund_wallet(client, 1000)
        paid = await transfer(
            client, as_tenant(), debit="wallet", credit="merchant", amount=300, reference_id="pay"
        )
        response = await act(client, paid["id"], "reverse")
        assert response.status_code == 201, response.text
        reversal = response.json()
        assert (reversal["kind"], reversal["status"], reversal["parent_id"]) == (
            "reversal",
            "posted",
            paid["id"],
        )
        assert [(e["account_id"], e["direction"], e["amount"]) for e in reversal["entries"]] == [
            (e["account_id"], "credit" if e["direction"] == "debit" else "debit", e["amount"])
            for e in paid["entries"]
        ]
        assert (await get_transaction(client, paid["id"]))["reversed_by"] == reversal["id"]
        found = await balances(client, "wallet", "merchant")
        assert found == {"wallet": (1000, 0, 0, 1000), "merchant": (0, 0, 0, 0)}
        await assert_verified(client)

    async def test_reversing_the_posting_of_a_hold(self, client: httpx.AsyncClient) -> None:
        _, held = await books_with(client, "hold")
        posting = (await act(client, held["id"], "post")).json()
        response = await act(client, posting["id"], "reverse")
        assert response.status_code == 201, response.text
        assert (await get_transaction(client, posting["id"]))["reversed_by"] == response.json()[
            "id"
        ]
        found = await balances(client, "wallet", "merchant")
        assert found == {"wallet": (1000, 0, 0, 1000), "merchant": (0, 0, 0, 0)}
        await assert_verified(client)

    async def test_reversal_that_would_overdraw_is_refused(self, client: httpx.AsyncClient) -> None:
        books = await open_books(client)
        await fund_wallet(client, 100)
        funding = (await list_transactions(client, {"reference_id": "fund"}))[0]
        await transfer(
            client, as_tenant(), debit="wallet", credit="merchant", amount=100, reference_id="spent"
        )
        before = await snapshot(client, books)
        response = await act(client, funding["id"], "reverse")
        assert_error(response, 402, "insufficient_funds", "id")
        assert await snapshot(client, books) == before
        assert (await get_transaction(client, funding["id"]))["reversed_by"] is None
        await assert_verified(client)


class TestWhatEverySettlementRefuses:
    """What posting, voiding and reversing share: each settles a transaction once, only one
    of the kind it applies to, and only the caller's own."""

    @pytest.mark.parametrize(
        ("first", "then", "code"),
        [
            ("post", "post", "transaction_archived"),
            ("void", "post", "transaction_voided"),
            ("void", "void", "transaction_voided"),
            ("post", "void", "transaction_archived"),
            ("reverse", "reverse", "transaction_already_reversed"),
        ],
    )
    async def test_a_settled_transaction_cannot_be_settled_again(
        self, client: httpx.AsyncClient, first: str, then: str, code: str
    ) -> None:
        books, target = await books_with(client, SETTLES[first])
        done = await act(client, target["id"], first)
        assert done.status_code == SETTLED[first], done.text
        before = await snapshot(client, books)
        again = await act(client, target["id"], then)
        assert_error(again, 400, code, "id")
        assert await snapshot(client, books) == before
        await assert_verified(client)

    @pytest.mark.parametrize(
        ("action", "kind"), [("post", "posted"), ("void", "posted"), ("reverse", "hold")]
    )
    async def test_the_other_kind_of_transaction_is_refused(
        self, client: httpx.AsyncClient, action: str, kind: Kind
    ) -> None:
        books, target = await books_with(client, kind)
        before = await snapshot(client, books)
        response = await act(client, target["id"], action)
        assert_error(response, 400, "transaction_unexpected_state", "id")
        assert await snapshot(client, books) == before
        assert (await get_transaction(client, target["id"]))["status"] == target["status"]

    @pytest.mark.parametrize("action", ["post", "void", "reverse"])
    @pytest.mark.parametrize(("tenant_id", "livemode"), ELSEWHERE)
    async def test_other_tenant_and_mode_get_404(
        self, client: httpx.AsyncClient, action: str, tenant_id: str, livemode: bool
    ) -> None:
        books, target = await books_with(client, SETTLES[action])
        before = await snapshot(client, books)
        response = await act(
            client, target["id"], action, headers=as_tenant(tenant_id, livemode=livemode)
        )
        assert_error(response, 404, "resource_missing", "id")
        assert await snapshot(client, books) == before

    @pytest.mark.parametrize("action", ["post", "void", "reverse"])
    async def test_unauthenticated(self, client: httpx.AsyncClient, action: str) -> None:
        books, target = await books_with(client, SETTLES[action])
        before = await snapshot(client, books)
        response = await act(client, target["id"], action, headers={})
        assert_error(response, 401, "identity_missing", None)
        assert await snapshot(client, books) == before

    @pytest.mark.parametrize("action", ["post", "void", "reverse"])
    async def test_not_found(self, client: httpx.AsyncClient, action: str) -> None:
        response = await act(client, "txn_missing", action)
        assert_error(response, 404, "resource_missing", "id")
