"""Settlement reconciliation (issue #16) against the providers' fakes over real HTTP, a real
ledger and real PostgreSQL: a clean run, one seeded discrepancy of every kind per provider,
the simulator's own book, uploaded settlement files, the report's reads and downloads, and
the requests refused."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cli.stack.ports import free_port
from services.payments.providers.listing import MAX_PAGES
from services.payments.schemas_settlement import MAX_CSV_CHARS
from shared.ledger_contract import Posting, balance_code, clearing_code
from tests.conftest import CreateDb, ServiceClient
from tests.fakes.providers import Charge, FakeProvider, FakeRefund
from tests.support.asgi import identity_headers
from tests.support.payments import (
    BANK,
    anonymous,
    create,
    events_of,
    fetch,
    get,
    key,
    overrides,
    pay_out,
    payments_client,
    webhook,
)
from tests.support.servers import owner_dsn
from tests.support.wallet import build, serving

RECON = "/payments/reconciliations"


@dataclass
class World:
    client: httpx.AsyncClient
    dsn: str
    ledger_url: str


@pytest.fixture
async def world(
    service_client: ServiceClient, create_db: CreateDb, redis_url: str, dsn: str,
    paystack: FakeProvider, flutterwave: FakeProvider,
) -> AsyncIterator[World]:  # fmt: skip
    """Payments in-process over the fakes, posting to a real ledger served on a port."""
    ledger_db = await create_db("ledger")
    async with serving(build("ledger", redis_url, database_url=ledger_db)) as ledger_url:
        settings = {**overrides(paystack, flutterwave), "ledger_url": ledger_url,
                    "relay_interval": 0.05}  # fmt: skip
        async with payments_client(service_client, dsn, **settings) as client:
            yield World(client, dsn, ledger_url)


def today() -> str:
    return datetime.now(UTC).date().isoformat()


async def reconcile(world: World, provider: str, **more: Any) -> dict[str, Any]:
    body = {"provider": provider, "from": today(), "to": today(), **more}
    response = await world.client.post(RECON, json=body, headers=key())
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def lines(world: World, reconciliation_id: str, **query: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": "100", **query}
    while True:
        page = (
            await world.client.get(
                f"{RECON}/{reconciliation_id}/lines", params=params, headers=key()
            )
        ).json()
        found += page["data"]
        if not page["has_more"]:
            return found
        params["starting_after"] = page["data"][-1]["id"]


async def all_posted(world: World) -> None:
    """Waits until the relay has carried every posting owed to the ledger."""
    deadline = asyncio.get_running_loop().time() + 10
    while await fetch(world.dsn, "SELECT 1 FROM ledger_outbox WHERE posted_at IS NULL"):
        assert asyncio.get_running_loop().time() < deadline, "postings not delivered"
        await asyncio.sleep(0.05)


async def paid(world: World, fake: FakeProvider, **fields: Any) -> dict[str, Any]:
    """An intent paid on the provider's page, settled by its webhook."""
    intent: dict[str, Any] = (
        await create(world.client, provider=fake.kind, confirm=True, **fields)
    ).json()
    assert intent["status"] == "requires_action", intent
    fake.complete(intent["id"])
    answer = await webhook(world.client, fake.kind, fake.charge_webhook(intent["id"]))
    assert answer.json()["outcome"] == "succeeded", answer.text
    return intent


async def paid_out(world: World, provider: str, amount: int) -> dict[str, Any]:
    payout: dict[str, Any] = (await pay_out(world.client, provider, amount)).json()
    assert payout["status"] == "paid", payout
    return payout


def by_reference(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {line["reference"]: line for line in found}


PROVIDERS = ["paystack", "flutterwave"]


@pytest.fixture(params=PROVIDERS)
def fake(
    request: pytest.FixtureRequest, paystack: FakeProvider, flutterwave: FakeProvider
) -> FakeProvider:
    return paystack if request.param == "paystack" else flutterwave


class TestProviders:
    async def test_a_clean_period_is_all_matched_and_announced(
        self, world: World, fake: FakeProvider
    ) -> None:
        first, second = await paid(world, fake), await paid(world, fake, amount=7250)
        payout = await paid_out(world, fake.kind, 1200)
        await all_posted(world)
        report = await reconcile(world, fake.kind)
        assert report["status"] == "completed", report
        assert report["source"] == "api"
        assert report["counts"] == {
            "matched": 3, "mismatched": 0, "missing_in_micro": 0, "missing_at_provider": 0,
        }  # fmt: skip
        found = by_reference(await lines(world, report["id"]))
        assert set(found) == {first["id"], second["id"], payout["id"]}
        assert found[second["id"]]["provider"] == {
            "amount": 7250, "currency": "ngn", "status": "succeeded",
        }  # fmt: skip
        assert found[payout["id"]]["object_type"] == "transfer"
        # Asked through the provider's own list endpoints, for the period.
        listed = [path for op, path, _ in fake.requests if op.startswith("list_")]
        assert len(listed) == 3
        [event] = await events_of(world.dsn, "reconciliation.completed")
        assert event["data"]["object"]["id"] == report["id"]
        assert event["data"]["object"]["counts"]["matched"] == 3

    async def test_every_kind_of_discrepancy_is_reported_with_both_values(
        self, world: World, fake: FakeProvider
    ) -> None:
        clean = await paid(world, fake)
        amount = await paid(world, fake)
        fake.charges[amount["id"]].amount = 4000  # the provider settled less
        currency = await paid(world, fake)
        fake.charges[currency["id"]].currency = "usd"
        # Paid at the provider, but its webhook never came: Micro still waits.
        waiting = (await create(world.client, provider=fake.kind, confirm=True)).json()
        fake.complete(waiting["id"])
        # Micro calls it succeeded, but no posting was ever written for it.
        unposted = (await create(world.client, provider=fake.kind, confirm=True)).json()
        fake.complete(unposted["id"])
        await fetch(
            world.dsn,
            "UPDATE payment_intents SET status = 'succeeded', amount_received = amount "
            "WHERE id = $1",
            unposted["id"],
        )
        # Money the provider took under a reference Micro never made.
        paid_status = "success" if fake.kind == "paystack" else "successful"
        fake.charges["pi_stranger"] = Charge(
            "pi_stranger", 3100, "ngn", "x@example.com", "", status=paid_status
        )
        # Micro says paid; the provider has no record of it.
        vanished = await paid(world, fake)
        del fake.charges[vanished["id"]]
        # A payout Micro says paid, which the provider says failed.
        payout = await paid_out(world, fake.kind, 800)
        fake.settle_transfer(payout["id"], "failed" if fake.kind == "paystack" else "FAILED")
        await all_posted(world)

        report = await reconcile(world, fake.kind)
        assert report["counts"] == {
            "matched": 1, "mismatched": 5, "missing_in_micro": 1, "missing_at_provider": 1,
        }, report  # fmt: skip
        found = by_reference(await lines(world, report["id"]))
        assert found[clean["id"]]["kind"] == "MATCHED"
        assert found[amount["id"]]["fields"] == ["amount"]
        assert (
            found[amount["id"]]["provider"]["amount"],
            found[amount["id"]]["micro"]["amount"],
        ) == (4000, 5000)
        assert found[currency["id"]]["fields"] == ["currency"]
        assert (
            found[currency["id"]]["provider"]["currency"],
            found[currency["id"]]["micro"]["currency"],
        ) == ("usd", "ngn")
        assert found[waiting["id"]]["fields"] == ["status"]
        assert found[waiting["id"]]["provider"]["status"] == "succeeded"
        assert found[waiting["id"]]["micro"]["status"] == "requires_action"
        assert found[unposted["id"]]["fields"] == ["ledger"]
        assert found[unposted["id"]]["micro"]["status"] == "succeeded"
        stranger = found["pi_stranger"]
        assert stranger["kind"] == "MISSING_IN_MICRO"
        assert (stranger["micro_id"], stranger["provider"]["amount"]) == (None, 3100)
        gone = found[vanished["id"]]
        assert (gone["kind"], gone["micro_id"], gone["provider"]["status"]) == (
            "MISSING_AT_PROVIDER", vanished["id"], None,
        )  # fmt: skip
        assert found[payout["id"]]["fields"] == ["status"]
        assert (
            found[payout["id"]]["provider"]["status"],
            found[payout["id"]]["micro"]["status"],
        ) == ("failed", "paid")
        # The kind filter and the counts agree.
        mismatched = await lines(world, report["id"], kind="MISMATCHED")
        assert {line["reference"] for line in mismatched} == {
            amount["id"],
            currency["id"],
            waiting["id"],
            unposted["id"],
            payout["id"],
        }
        shown = (await world.client.get(f"{RECON}/{report['id']}", headers=key())).json()
        assert shown["counts"] == report["counts"]

    async def test_records_outside_the_period_are_left_out(
        self, world: World, fake: FakeProvider
    ) -> None:
        old = await paid(world, fake)
        await all_posted(world)
        earlier = datetime.now(UTC) - timedelta(days=10)
        fake.charges[old["id"]].created_at = earlier
        await fetch(
            world.dsn,
            "UPDATE payment_intents SET created_at = $2 WHERE id = $1",
            old["id"],
            earlier,
        )
        # The attempt is what the provider saw, and when (history: as the owner).
        await fetch(
            owner_dsn(world.dsn),
            "UPDATE payment_attempts SET created_at = $2 WHERE intent_id = $1",
            old["id"],
            earlier,
        )
        report = await reconcile(world, fake.kind)
        assert report["counts"]["matched"] == 0
        assert await lines(world, report["id"]) == []
        period = earlier.date().isoformat()
        back_then = await reconcile(world, fake.kind, **{"from": period, "to": period})
        assert back_then["counts"]["matched"] == 1

    async def test_a_retried_payment_matches_each_attempt(
        self, world: World, fake: FakeProvider
    ) -> None:
        intent = (await create(world.client, provider=fake.kind, confirm=True)).json()
        fake.complete(intent["id"], paid=False)
        await world.client.get(f"/webhooks/{fake.kind}/return/{intent['id']}", headers=anonymous())
        retried = await world.client.post(
            f"/payments/payment_intents/{intent['id']}/confirm", json={}, headers=key()
        )
        assert retried.json()["status"] == "requires_action", retried.text
        second = f"{intent['id']}-2"
        fake.complete(second)
        await webhook(world.client, fake.kind, fake.charge_webhook(second))
        assert (await get(world.client, intent["id"]))["status"] == "succeeded"
        await all_posted(world)
        report = await reconcile(world, fake.kind)
        found = by_reference(await lines(world, report["id"]))
        assert found[intent["id"]]["kind"] == "MATCHED"  # the failed first attempt
        assert found[intent["id"]]["provider"]["status"] == "failed"
        assert found[second]["kind"] == "MATCHED"
        assert found[second]["micro_id"] == intent["id"]

    async def test_every_page_of_the_lists_is_read(self, world: World, fake: FakeProvider) -> None:
        fake.page_size = 2
        made = [await paid(world, fake, amount=1000 + n) for n in range(5)]
        await all_posted(world)
        report = await reconcile(world, fake.kind)
        assert report["counts"]["matched"] == 5, report
        assert {line["reference"] for line in await lines(world, report["id"])} == {
            intent["id"] for intent in made
        }
        pages = [
            parse_qs(urlsplit(path).query).get("page")
            for op, path, _ in fake.requests
            if op == "list_transactions"
        ]
        assert pages == [["1"], ["2"], ["3"]]

    async def test_a_period_too_large_to_list_fails_rather_than_reports_part(
        self, world: World, fake: FakeProvider
    ) -> None:
        fake.page_size = 1
        status = "success" if fake.kind == "paystack" else "successful"
        for n in range(MAX_PAGES + 1):
            fake.charges[f"pi_bulk{n}"] = Charge(f"pi_bulk{n}", 100, "ngn", "", "", status=status)
        report = await reconcile(world, fake.kind)
        assert report["status"] == "failed"
        assert f"more than {MAX_PAGES} pages of transactions" in report["failure_message"]
        assert report["counts"]["missing_in_micro"] == 0

    async def test_a_provider_that_does_not_answer_fails_the_run(
        self, world: World, fake: FakeProvider
    ) -> None:
        fake.slow.add("list_transactions")
        report = await reconcile(world, fake.kind)
        assert report["status"] == "failed"
        assert fake.kind.capitalize() in report["failure_message"]
        assert await lines(world, report["id"]) == []
        assert await events_of(world.dsn, "reconciliation.completed") == []


async def seed_refund(
    world: World, refund_id: str, intent: dict[str, Any], amount: int, *,
    provider_refund_id: str | None = None,
) -> None:  # fmt: skip
    """A refund Micro records as succeeded (with the refunds columns issue #16 adds, where
    the schema has them)."""
    columns = {
        r["column_name"]
        for r in await fetch(
            world.dsn,
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'refunds'",
        )
    }
    values: dict[str, Any] = {
        "id": refund_id, "tenant_id": "ten_providers", "livemode": False,
        "payment_intent_id": intent["id"], "amount": amount, "currency": "ngn",
        "status": "succeeded",
    }  # fmt: skip
    if "provider" in columns:
        values["provider"] = intent["provider"]
    if "provider_refund_id" in columns:
        values["provider_refund_id"] = provider_refund_id
    names = ", ".join(values)  # our own column names, never input
    marks = ", ".join(f"${n}" for n in range(1, len(values) + 1))
    insert = f"INSERT INTO refunds ({names}) VALUES ({marks})"  # noqa: S608
    await fetch(world.dsn, insert, *values.values())


async def post_to_ledger(world: World, reference_id: str, amount: int) -> None:
    """The posting a succeeded refund owes the ledger, as the relay would send it."""
    posting = Posting(
        reference_id=reference_id, description=f"Refund {reference_id}", metadata={},
        debit=balance_code("ngn"), credit=clearing_code("ngn"), amount=amount, currency="ngn",
    )  # fmt: skip
    async with httpx.AsyncClient(base_url=world.ledger_url) as ledger:
        # As payments itself posts (its accounts take postings from services only).
        service = identity_headers(
            tenant_id="ten_providers", principal="payments", principal_type="service"
        )
        answer = await ledger.post("/ledger/transactions", json=posting.body(), headers=service)
    assert answer.status_code == 201, answer.text


class TestFailover:
    async def test_each_attempt_is_reconciled_at_the_provider_it_went_to(
        self, world: World, paystack: FakeProvider, flutterwave: FakeProvider
    ) -> None:
        routed = await world.client.put(
            "/payments/routing/ngn", json={"providers": ["paystack", "flutterwave"]},
            headers=key(),
        )  # fmt: skip
        assert routed.status_code == 200, routed.text
        paystack.fail("initialize", 429)  # rate limited: nothing taken, tried on the next
        intent = (await create(world.client, confirm=True)).json()
        assert (intent["provider"], intent["status"]) == ("flutterwave", "requires_action")
        second = f"{intent['id']}-2"
        flutterwave.complete(second)
        await webhook(world.client, "flutterwave", flutterwave.charge_webhook(second))
        await all_posted(world)
        at_flutterwave = await reconcile(world, "flutterwave")
        [line] = await lines(world, at_flutterwave["id"])
        assert (line["kind"], line["reference"], line["micro_id"]) == (
            "MATCHED", second, intent["id"],
        )  # fmt: skip
        # Paystack took nothing for the first attempt: nothing to report there.
        at_paystack = await reconcile(world, "paystack")
        assert await lines(world, at_paystack["id"]) == []
        # Had it taken the money after all, the first attempt is money taken twice.
        paystack.charges[intent["id"]] = Charge(
            intent["id"], 5000, "ngn", "ada@example.com", "", status="success"
        )
        again = await reconcile(world, "paystack")
        [twice] = await lines(world, again["id"])
        assert (twice["kind"], twice["reference"], twice["fields"]) == (
            "MISMATCHED", intent["id"], ["status"],
        )  # fmt: skip
        assert (twice["provider"]["status"], twice["micro"]["status"]) == ("succeeded", "failed")


class TestRefunds:
    async def test_refunds_match_by_charge_and_amount_and_each_discrepancy_shows(
        self, world: World, fake: FakeProvider
    ) -> None:
        done = "processed" if fake.kind == "paystack" else "completed"
        first, second, third = (
            await paid(world, fake),
            await paid(world, fake),
            await paid(world, fake),
        )
        await all_posted(world)
        # Given back at both ends, and posted.
        await seed_refund(world, "re_matched", first, 2000)
        await post_to_ledger(world, "re_matched", 2000)
        # Given back at both ends, never posted.
        await seed_refund(world, "re_unposted", second, 1000)
        # Micro says given back; the provider never did.
        await seed_refund(world, "re_phantom", third, 700)
        fake.refunds = {
            "901": FakeRefund(first["id"], 2000, "ngn", "", done, 901),
            "902": FakeRefund(second["id"], 1000, "ngn", "", done, 902),
            # Given back by the provider (its dashboard), unknown to Micro.
            "903": FakeRefund(third["id"], 300, "ngn", "", done, 903),
        }
        report = await reconcile(world, fake.kind)
        found = [
            line for line in await lines(world, report["id"]) if line["object_type"] == "refund"
        ]
        shown = {(line["kind"], line["reference"], tuple(line["fields"])) for line in found}
        assert shown == {
            ("MATCHED", "re_matched", ()),
            ("MISMATCHED", "re_unposted", ("ledger",)),
            ("MISSING_AT_PROVIDER", "re_phantom", ()),
            ("MISSING_IN_MICRO", third["id"], ()),
        }, found
        stranger = next(line for line in found if line["kind"] == "MISSING_IN_MICRO")
        assert (stranger["provider_id"], stranger["provider"]["amount"]) == ("903", 300)
        matched = next(line for line in found if line["kind"] == "MATCHED")
        assert (matched["provider_id"], matched["micro_id"]) == ("901", "re_matched")

    async def test_refunds_made_through_the_provider_match_by_its_refund_id(
        self, world: World, fake: FakeProvider
    ) -> None:
        intent = await paid(world, fake)
        fake.refund_status = "processed"
        made = []
        for _ in range(2):  # two refunds of one amount: only the provider's id tells them apart
            answer = await world.client.post(
                "/payments/refunds", json={"payment_intent": intent["id"], "amount": 1500},
                headers=key(),
            )  # fmt: skip
            assert answer.json()["status"] == "succeeded", answer.text
            made.append(answer.json()["id"])
        await all_posted(world)
        [(first_id,), (second_id,)] = [
            tuple(r) for r in await fetch(
                world.dsn, "SELECT provider_refund_id FROM refunds WHERE id = ANY($1) "
                "ORDER BY id", made,
            )
        ]  # fmt: skip
        # The provider says it gave back less on the second one.
        fake.refunds[str(second_id)].amount = 1400
        report = await reconcile(world, fake.kind)
        found = by_reference(
            [line for line in await lines(world, report["id"]) if line["object_type"] == "refund"]
        )
        assert (found[made[0]]["kind"], found[made[0]]["provider_id"]) == ("MATCHED", first_id)
        assert found[made[1]]["kind"] == "MISMATCHED"
        assert found[made[1]]["fields"] == ["amount"]
        assert (found[made[1]]["provider"]["amount"], found[made[1]]["micro"]["amount"]) == (
            1400, 1500,
        )  # fmt: skip
        assert report["counts"]["missing_in_micro"] == report["counts"]["missing_at_provider"] == 0


class TestSimulator:
    async def test_a_local_stack_reconciles_itself_clean(self, world: World) -> None:
        client = world.client
        card = {"provider": "simulator", "currency": "usd", "confirm": True}
        await create(client, payment_method="pm_card_visa", **card)
        await create(client, payment_method="pm_card_mastercard", amount=1999, **card)
        declined = await create(client, payment_method="pm_card_chargeDeclined", **card)
        assert declined.status_code == 402
        secure = (
            await create(client, payment_method="pm_card_threeDSecure2Required", **card)
        ).json()
        url = urlsplit(secure["next_action"]["redirect_to_url"]["url"])
        done = await client.post(
            f"{url.path}?{url.query}", data={"outcome": "approve"}, headers=anonymous()
        )
        assert done.status_code == 200, done.text
        assert (await get(client, secure["id"]))["status"] == "succeeded"
        refunded = await client.post(
            "/payments/refunds", json={"payment_intent": secure["id"], "amount": 800}, headers=key()
        )
        assert refunded.json()["status"] == "succeeded", refunded.text
        body = {"amount": 700, "currency": "usd", "destination": BANK, "provider": "simulator"}
        assert (await client.post("/payments/payouts", json=body, headers=key())).json()[
            "status"
        ] == "paid"
        await all_posted(world)
        report = await reconcile(world, "simulator")
        assert report["status"] == "completed"
        assert report["counts"] == {
            "matched": 6, "mismatched": 0, "missing_in_micro": 0, "missing_at_provider": 0,
        }, await lines(world, report["id"])  # fmt: skip
        found = await lines(world, report["id"])
        assert sorted(line["object_type"] for line in found) == [
            "charge", "charge", "charge", "charge", "refund", "transfer",
        ]  # fmt: skip

    async def test_its_book_is_its_own_and_catches_what_micro_changed(self, world: World) -> None:
        intent = (
            await create(
                world.client, provider="simulator", payment_method="pm_card_visa", confirm=True
            )
        ).json()
        await all_posted(world)
        # Micro's record drifts (a bug, a hand edit): the simulator's book still says 5000.
        await fetch(
            world.dsn, "UPDATE payment_intents SET amount = 4500 WHERE id = $1", intent["id"]
        )
        report = await reconcile(world, "simulator")
        [line] = await lines(world, report["id"])
        assert (line["kind"], line["fields"]) == ("MISMATCHED", ["amount"])
        assert (line["provider"]["amount"], line["micro"]["amount"]) == (5000, 4500)

    async def test_the_simulator_is_refused_in_live_mode(self, world: World) -> None:
        body = {"provider": "simulator", "from": today(), "to": today()}
        response = await world.client.post(RECON, json=body, headers=key(livemode=True))
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "provider_not_configured"


def settlement_file(
    *rows: tuple[Any, ...],
    header: str = "type,reference,provider_id,amount,currency,status,created",
) -> str:
    out = io.StringIO()
    out.write(header + "\n")
    writer = csv.writer(out, lineterminator="\n")
    for line in rows:
        writer.writerow(line)
    return out.getvalue()


class TestUploadedFile:
    async def test_a_settlement_file_is_reconciled_instead_of_the_api(
        self, world: World, paystack: FakeProvider
    ) -> None:
        intent = await paid(world, paystack)
        other = await paid(world, paystack)
        await all_posted(world)
        paystack.requests.clear()
        text = settlement_file(
            ("charge", intent["id"], "T1", 5000, "NGN", "succeeded", datetime.now(UTC).isoformat()),
            ("charge", other["id"], "T2", 4999, "NGN", "succeeded", ""),
            ("charge", "pi_elsewhere", "T3", 100, "NGN", "succeeded", today()),
        )
        report = await reconcile(world, "paystack", csv=text)
        assert report["source"] == "csv"
        assert report["counts"] == {
            "matched": 1, "mismatched": 1, "missing_in_micro": 1, "missing_at_provider": 0,
        }  # fmt: skip
        assert paystack.requests == []  # the file, not the API
        found = by_reference(await lines(world, report["id"]))
        assert found[other["id"]]["provider"]["amount"] == 4999

    @pytest.mark.parametrize(
        ("text", "says"),
        [
            ("\n", "empty"),
            ("type,reference,amount\ncharge,pi_1,5\n", "lacks currency, status"),
            (settlement_file(("card", "pi_1", "", 5, "ngn", "succeeded", "")), "type"),
            (settlement_file(("charge", "pi_1", "", "12.5", "ngn", "succeeded", "")), "amount"),
            (settlement_file(("charge", "pi_1", "", "-5", "ngn", "succeeded", "")), "amount"),
            (settlement_file(("charge", "pi_1", "", 5, "naira", "succeeded", "")), "currency"),
            (settlement_file(("charge", "pi_1", "", 5, "ngn", "paid", "")), "status"),
            (settlement_file(("charge", "", "", 5, "ngn", "succeeded", "")), "reference"),
            (
                settlement_file(("charge", "pi_1", "", 5, "ngn", "succeeded", "yesterday")),
                "created",
            ),
            (
                settlement_file(("charge", "pi_1", "", 5, "ngn", "succeeded", "", "extra")),
                "more fields",
            ),
            ('type,reference,amount,currency,status\ncharge,"pi_1,5,ngn,succeeded\n', "CSV"),
        ],
    )
    async def test_a_bad_file_is_refused_with_what_is_wrong(
        self, world: World, text: str, says: str
    ) -> None:
        body = {"provider": "paystack", "from": today(), "to": today(), "csv": text}
        response = await world.client.post(RECON, json=body, headers=key())
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["param"] == "csv"
        assert says in error["message"], error
        # Nothing is kept of a refused request.
        assert (await world.client.get(RECON, headers=key())).json()["data"] == []

    async def test_the_report_downloads_as_csv(self, world: World, paystack: FakeProvider) -> None:
        intent = await paid(world, paystack)
        await all_posted(world)
        text = settlement_file(
            ("charge", intent["id"], "T1", 5100, "ngn", "succeeded", ""),
            ("charge", "=HYPERLINK(1)", "T9", 1, "ngn", "succeeded", ""),
        )
        report = await reconcile(world, "paystack", csv=text)
        response = await world.client.get(f"{RECON}/{report['id']}/lines.csv", headers=key())
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert [row["kind"] for row in rows] == ["MISMATCHED", "MISSING_IN_MICRO"]
        assert rows[0]["reference"] == intent["id"]
        assert (rows[0]["fields"], rows[0]["provider_amount"], rows[0]["micro_amount"]) == (
            "amount",
            "5100",
            "5000",
        )
        # A spreadsheet would run it as a formula: it is written as text.
        assert rows[1]["reference"] == "'=HYPERLINK(1)"
        only = await world.client.get(
            f"{RECON}/{report['id']}/lines.csv", params={"kind": "MATCHED"}, headers=key()
        )
        assert only.text.strip().splitlines() == [
            "kind,object_type,reference,micro_id,provider_id,fields,provider_amount,"
            "micro_amount,provider_currency,micro_currency,provider_status,micro_status"
        ]


class TestRequests:
    @pytest.mark.parametrize(
        ("body", "param"),
        [
            ({"provider": "stripe"}, "provider"),
            ({"provider": 5}, "provider"),
            ({"from": "2026-12-02", "to": "2026-12-01"}, "to"),
            ({"from": "2026-12-01T10:00:00Z", "to": "2026-12-01T10:00:00Z"}, "to"),
            ({"from": "2026-01-01", "to": "2026-12-31"}, "to"),
            ({"from": True}, "from"),
            ({"from": 1.5}, "from"),
            ({"to": ["2026-12-01"]}, "to"),
            ({"from": "2026-13-01"}, "from"),
            ({"from": "yesterday"}, "from"),
            ({"from": -1}, "from"),
            ({"from": 10**20}, "from"),
            ({"csv": ""}, "csv"),
            ({"csv": 5}, "csv"),
            ({"colour": "red"}, "colour"),
        ],
    )
    async def test_bad_requests_are_refused(
        self, world: World, body: dict[str, Any], param: str
    ) -> None:
        request = {"provider": "paystack", "from": "2026-12-01", "to": "2026-12-01", **body}
        response = await world.client.post(RECON, json=request, headers=key())
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param

    async def test_a_file_too_long_is_a_400_naming_csv_not_a_413(self, world: World) -> None:
        too_long = "\U0001f4b0" * (MAX_CSV_CHARS + 1)  # four bytes each in UTF-8
        body = {"provider": "paystack", "from": today(), "to": today(), "csv": too_long}
        response = await world.client.post(RECON, json=body, headers=key())
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "csv"
        as_form = await world.client.post(
            RECON, data={"provider": "paystack", "from": today(), "to": today(), "csv": too_long},
            headers=key(),
        )  # fmt: skip
        assert as_form.status_code == 400
        assert as_form.json()["error"]["param"] == "csv"

    async def test_missing_params_are_named(self, world: World) -> None:
        response = await world.client.post(RECON, json={"provider": "paystack"}, headers=key())
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "parameter_missing"

    async def test_unix_seconds_and_timestamps_are_periods_too(self, world: World) -> None:
        now = int(datetime.now(UTC).timestamp())
        report = await reconcile(world, "simulator", **{"from": now - 3600, "to": now + 60})
        assert (report["period_start"], report["period_end"]) == (now - 3600, now + 60)
        stamp = await reconcile(
            world,
            "simulator",
            **{"from": "2026-12-01T08:00:00+01:00", "to": "2026-12-01T09:00:00Z"},
        )
        assert stamp["period_end"] - stamp["period_start"] == 7200

    async def test_another_tenants_report_is_not_found(self, world: World) -> None:
        report = await reconcile(world, "simulator")
        other = key("ten_other")
        for path in (
            f"{RECON}/{report['id']}",
            f"{RECON}/{report['id']}/lines",
            f"{RECON}/{report['id']}/lines.csv",
        ):
            response = await world.client.get(path, headers=other)
            assert response.status_code == 404, path
        assert (await world.client.get(RECON, headers=other)).json()["data"] == []
        # Nor in the other mode.
        live = await world.client.get(f"{RECON}/{report['id']}", headers=key(livemode=True))
        assert live.status_code == 404
        assert (await world.client.get(f"{RECON}/rcn_nothing", headers=key())).status_code == 404

    async def test_a_user_without_the_admin_role_and_anonymous_are_refused(
        self, world: World
    ) -> None:
        user = identity_headers(
            tenant_id="ten_providers", principal="usr_1", principal_type="user", role="USER"
        )
        body = {"provider": "simulator", "from": today(), "to": today()}
        assert (await world.client.post(RECON, json=body, headers=user)).status_code == 403
        assert (await world.client.get(RECON, headers=user)).status_code == 403
        assert (await world.client.post(RECON, json=body, headers=anonymous())).status_code in (
            401,
            403,
        )

    async def test_reports_are_listed_newest_first_and_lines_paged(self, world: World) -> None:
        for method in ("pm_card_visa", "pm_card_visa", "pm_card_visa"):
            await create(world.client, provider="simulator", payment_method=method, confirm=True)
        await all_posted(world)
        first, second = await reconcile(world, "simulator"), await reconcile(world, "simulator")
        listed = (await world.client.get(RECON, params={"limit": 1}, headers=key())).json()
        assert (listed["object"], listed["has_more"]) == ("list", True)
        assert [r["id"] for r in listed["data"]] == [second["id"]]
        assert listed["data"][0]["counts"]["matched"] == 3
        older = (
            await world.client.get(RECON, params={"starting_after": second["id"]}, headers=key())
        ).json()
        assert [r["id"] for r in older["data"]] == [first["id"]]
        path = f"{RECON}/{first['id']}/lines"
        one = (await world.client.get(path, params={"limit": 1}, headers=key())).json()
        assert (len(one["data"]), one["has_more"]) == (1, True)
        rest = (
            await world.client.get(
                path, params={"starting_after": one["data"][0]["id"]}, headers=key()
            )
        ).json()
        assert [line["id"] for line in rest["data"]] == ["line_2", "line_3"]
        back = (
            await world.client.get(
                path, params={"ending_before": "line_3", "limit": 1}, headers=key()
            )
        ).json()
        assert [line["id"] for line in back["data"]] == ["line_2"]
        for bad in ({"kind": "WRONG"}, {"starting_after": "nope"}, {"limit": 0}):
            assert (await world.client.get(path, params=bad, headers=key())).status_code == 400

    async def test_a_ledger_that_cannot_be_asked_fails_the_run(
        self, service_client: ServiceClient, dsn: str, paystack: FakeProvider,
        flutterwave: FakeProvider,
    ) -> None:  # fmt: skip
        dead = f"http://127.0.0.1:{free_port()}"
        settings = {**overrides(paystack, flutterwave), "ledger_url": dead, "ledger_wait": 0.1}
        async with payments_client(service_client, dsn, **settings) as client:
            world = World(client, dsn, dead)
            await paid(world, paystack)
            report = await reconcile(world, "paystack")
        assert report["status"] == "failed"
        assert "ledger" in report["failure_message"]
        assert await events_of(dsn, "reconciliation.completed") == []

    async def test_no_account_at_the_provider_is_a_clear_400(
        self, service_client: ServiceClient, dsn: str
    ) -> None:
        async with payments_client(service_client, dsn) as client:
            body = {"provider": "paystack", "from": today(), "to": today()}
            response = await client.post(RECON, json=body, headers=key())
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "provider_not_configured"
        assert "csv" in response.json()["error"]["message"]


def test_the_event_object_is_json_serialisable() -> None:
    # The outbox stores the event as JSON: the object has no datetime left in it.
    from services.payments.repository.reconciliations import ReconciliationRow
    from services.payments.schemas_settlement import Reconciliation

    now = datetime.now(UTC)
    shown = Reconciliation.from_row(
        ReconciliationRow(
            "rcn_1", "ten", False, "paystack", "api", now, now, "completed", None, now, now
        ),
        {"MATCHED": 2},
    )
    assert json.loads(json.dumps(shown.model_dump()))["counts"]["matched"] == 2
