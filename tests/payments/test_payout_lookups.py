"""A Flutterwave payout whose create call timed out before Flutterwave named the transfer:
the reconciler finds it by our reference (`GET /v3/transfers?reference=`) and settles it
without waiting for a webhook; one Flutterwave never received fails, having sent nothing."""

from __future__ import annotations

import httpx

from tests.fakes.providers import FakeProvider
from tests.support.payments import (
    events_of,
    fetch,
    get_payout,
    pay_out,
    postings,
    reconcile,
)


async def transfer_id(dsn: str, payout_id: str) -> str | None:
    [row] = await fetch(dsn, "SELECT provider_transfer_id FROM payouts WHERE id = $1", payout_id)
    found: str | None = row["provider_transfer_id"]
    return found


def lookups(flutterwave: FakeProvider) -> list[str]:
    return [path for op, path, _ in flutterwave.requests if op == "list_transfers"]


async def test_a_lost_create_answer_is_found_by_reference_and_paid_once(
    client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider, dsn: str
) -> None:
    # Flutterwave made the transfer; its answer never came back in time.
    flutterwave.lost_answers.add("transfer")
    payout = (await pay_out(client, "flutterwave", 2550)).json()
    assert payout["status"] == "pending"
    assert await transfer_id(dsn, payout["id"]) is None
    flutterwave.lost_answers.clear()
    assert await reconcile(dsn, paystack, flutterwave) == {"payout_paid": 1}
    assert lookups(flutterwave) == [f"/v3/transfers?reference={payout['id']}"]
    shown = await get_payout(client, payout["id"])
    assert shown["status"] == "paid"
    [made] = flutterwave.transfers.values()
    assert await transfer_id(dsn, payout["id"]) == str(made.id)
    assert await postings(dsn) == [payout["id"]]
    # Asked again: settled already, nothing posted twice, nothing announced twice.
    await reconcile(dsn, paystack, flutterwave)
    assert await postings(dsn) == [payout["id"]]
    assert len(await events_of(dsn, "payout.paid")) == 1


async def test_found_pending_it_is_named_and_then_asked_by_its_id(
    client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider, dsn: str
) -> None:
    flutterwave.transfer_status = "pending"
    flutterwave.lost_answers.add("transfer")
    payout = (await pay_out(client, "flutterwave", 900)).json()
    flutterwave.lost_answers.clear()
    assert await reconcile(dsn, paystack, flutterwave) == {"payout_still_pending": 1}
    [made] = flutterwave.transfers.values()
    assert await transfer_id(dsn, payout["id"]) == str(made.id)
    flutterwave.settle_transfer(payout["id"], "FAILED")
    assert await reconcile(dsn, paystack, flutterwave) == {"payout_failed": 1}
    # The second round asked by Flutterwave's own id, not the list.
    assert len(lookups(flutterwave)) == 1
    assert [op for op, _, _ in flutterwave.requests][-1] == "verify_transfer"
    assert await postings(dsn) == []


async def test_a_create_that_never_arrived_fails_the_payout(
    client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider, dsn: str
) -> None:
    # The request hangs and Flutterwave does nothing with it.
    flutterwave.slow.add("transfer")
    payout = (await pay_out(client, "flutterwave", 2550)).json()
    assert payout["status"] == "pending"
    # Younger than reconcile_after: not asked about yet.
    assert await reconcile(dsn, paystack, flutterwave, reconcile_after=3600) == {}
    assert (await get_payout(client, payout["id"]))["status"] == "pending"
    assert await reconcile(dsn, paystack, flutterwave) == {"payout_failed": 1}
    shown = await get_payout(client, payout["id"])
    assert (shown["status"], shown["failure_code"]) == ("failed", "could_not_process")
    assert "never reached Flutterwave" in shown["failure_message"]
    assert flutterwave.transfers == {}
    assert await postings(dsn) == []
    [failed] = await events_of(dsn, "payout.failed")
    assert failed["data"]["object"]["id"] == payout["id"]


async def test_a_paystack_transfer_that_never_arrived_fails_the_payout(
    client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider, dsn: str
) -> None:
    # Paystack's verify by our reference answers 404 for a transfer it never received.
    paystack.slow.add("transfer")
    payout = (await pay_out(client, "paystack", 2550)).json()
    assert payout["status"] == "pending"
    assert await reconcile(dsn, paystack, flutterwave, reconcile_after=3600) == {}
    assert await reconcile(dsn, paystack, flutterwave) == {"payout_failed": 1}
    shown = await get_payout(client, payout["id"])
    assert (shown["status"], shown["failure_code"]) == ("failed", "could_not_process")
    assert "never reached Paystack" in shown["failure_message"]
    assert paystack.transfers == {}
    assert await postings(dsn) == []


async def test_an_error_answer_from_the_list_changes_nothing(
    client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider, dsn: str
) -> None:
    flutterwave.slow.add("transfer")
    payout = (await pay_out(client, "flutterwave", 2550)).json()
    flutterwave.unavailable.add("list_transfers")
    assert await reconcile(dsn, paystack, flutterwave) == {"payout_still_pending": 1}
    assert (await get_payout(client, payout["id"]))["status"] == "pending"
