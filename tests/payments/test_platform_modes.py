"""The platform's default provider accounts per mode: a test-mode object goes through the
test key and a live-mode one through the live key (the fakes see which), a webhook counts
only for the mode whose secret signed it, and a key in the other mode's slot stops the
service at start with a message naming the setting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from services.payments.settings import PaymentsSettings
from tests.conftest import CreateDb, ServiceClient
from tests.fakes.providers import FakeProvider, serve
from tests.support.payments import (
    BASE,
    FLUTTERWAVE_KEY,
    PAYSTACK_KEY,
    key,
    output,
    payments_client,
    serve_process,
    webhook,
)
from tests.support.secrets import TEST_SECRET_FIELDS

PAYSTACK_LIVE = "sk_live_platform_paystack_0001"
FLUTTERWAVE_LIVE = "FLWSECK-platform-live-0001-X"
TEST_HASH, LIVE_HASH = "fw-test-hash-0001", "fw-live-hash-0001"
SECRETS = {"paystack": (PAYSTACK_KEY, PAYSTACK_LIVE), "flutterwave": (TEST_HASH, LIVE_HASH)}


@pytest.fixture
async def paystack() -> AsyncIterator[FakeProvider]:
    fake = FakeProvider("paystack", PAYSTACK_KEY, live_secret_key=PAYSTACK_LIVE)
    async with serve(fake) as served:
        yield served


@pytest.fixture
async def flutterwave() -> AsyncIterator[FakeProvider]:
    fake = FakeProvider(
        "flutterwave", FLUTTERWAVE_KEY, secret_hash=TEST_HASH, live_secret_key=FLUTTERWAVE_LIVE,
        live_secret_hash=LIVE_HASH,
    )  # fmt: skip
    async with serve(fake) as served:
        yield served


def by_mode(paystack: FakeProvider, flutterwave: FakeProvider) -> dict[str, Any]:
    return {
        "paystack_base_url": paystack.url,
        "flutterwave_base_url": flutterwave.url,
        "paystack_test_secret_key": PAYSTACK_KEY,
        "paystack_live_secret_key": PAYSTACK_LIVE,
        "flutterwave_test_secret_key": FLUTTERWAVE_KEY,
        "flutterwave_live_secret_key": FLUTTERWAVE_LIVE,
        "flutterwave_test_secret_hash": TEST_HASH,
        "flutterwave_live_secret_hash": LIVE_HASH,
        "provider_timeout": 0.5,
        "relay_interval": 3600,
        "reconcile_interval": 3600,
    }


@pytest.fixture
async def client(
    service_client: ServiceClient, dsn: str, paystack: FakeProvider, flutterwave: FakeProvider
) -> AsyncIterator[httpx.AsyncClient]:
    async with payments_client(service_client, dsn, **by_mode(paystack, flutterwave)) as http:
        yield http


async def hosted(client: httpx.AsyncClient, provider: str, *, livemode: bool) -> dict[str, Any]:
    body = {"amount": 5000, "currency": "ngn", "receipt_email": "ada@example.com",
            "provider": provider, "confirm": True}  # fmt: skip
    response = await client.post(BASE, json=body, headers=key(livemode=livemode))
    assert response.status_code == 200, response.text
    intent: dict[str, Any] = response.json()
    assert intent["status"] == "requires_action"
    return intent


async def status(client: httpx.AsyncClient, intent: dict[str, Any]) -> str:
    response = await client.get(f"{BASE}/{intent['id']}", headers=key(livemode=intent["livemode"]))
    found: str = response.json()["status"]
    return found


@pytest.mark.parametrize(
    ("provider", "live_key"), [("paystack", PAYSTACK_LIVE), ("flutterwave", FLUTTERWAVE_LIVE)]
)
async def test_each_mode_goes_through_its_own_key(
    client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider,
    provider: str, live_key: str,
) -> None:  # fmt: skip
    fake = paystack if provider == "paystack" else flutterwave
    await hosted(client, provider, livemode=False)
    await hosted(client, provider, livemode=True)
    assert fake.authorizations == [f"Bearer {fake.secret_key}", f"Bearer {live_key}"]
    # Both modes are shown as served by the platform.
    for livemode in (False, True):
        shown = await client.get(f"/payments/providers/{provider}", headers=key(livemode=livemode))
        assert shown.status_code == 200, shown.text
        assert shown.json()["source"] == "platform"


@pytest.mark.parametrize("provider", ["paystack", "flutterwave"])
async def test_a_webhook_counts_only_for_the_mode_whose_secret_signed_it(
    client: httpx.AsyncClient, paystack: FakeProvider, flutterwave: FakeProvider, provider: str
) -> None:
    fake = paystack if provider == "paystack" else flutterwave
    test_secret, live_secret = SECRETS[provider]
    test = await hosted(client, provider, livemode=False)
    live = await hosted(client, provider, livemode=True)
    for intent in (test, live):
        fake.complete(intent["id"])
    body, _ = fake.charge_webhook(test["id"])
    # The test intent's news signed with the live secret: not the live account's intent.
    misplaced = await webhook(client, provider, fake.sign(body, secret=live_secret))
    assert misplaced.status_code == 200, misplaced.text
    assert misplaced.json()["outcome"] == "unknown_reference"
    assert await status(client, test) == "requires_action"
    # Each signed with its own mode's secret: applied.
    body, _ = fake.charge_webhook(live["id"])
    applied = await webhook(client, provider, fake.sign(body, secret=live_secret))
    assert applied.json()["outcome"] == "succeeded"
    assert await status(client, live) == "succeeded"
    # The same news, rightly signed, is no duplicate of the misplaced one.
    body, _ = fake.charge_webhook(test["id"])
    applied = await webhook(client, provider, fake.sign(body, secret=test_secret))
    assert applied.json()["outcome"] == "succeeded", applied.text
    assert await status(client, test) == "succeeded"
    # Signed with neither: refused.
    forged = await webhook(client, provider, fake.sign(body, secret="not-a-secret"))
    assert forged.status_code == 401


async def test_the_single_key_still_serves_the_mode_its_prefix_says(
    service_client: ServiceClient, dsn: str, paystack: FakeProvider, flutterwave: FakeProvider
) -> None:
    settings = {
        **by_mode(paystack, flutterwave),
        "paystack_test_secret_key": "",
        "paystack_secret_key": PAYSTACK_KEY,  # a test key, in the old single setting
    }
    async with payments_client(service_client, dsn, **settings) as client:
        await hosted(client, "paystack", livemode=False)
        await hosted(client, "paystack", livemode=True)
    assert paystack.authorizations == [f"Bearer {PAYSTACK_KEY}", f"Bearer {PAYSTACK_LIVE}"]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"paystack_test_secret_key": PAYSTACK_LIVE}, "MICRO_PAYMENTS_PAYSTACK_LIVE_SECRET_KEY"),
        ({"paystack_live_secret_key": PAYSTACK_KEY}, "MICRO_PAYMENTS_PAYSTACK_TEST_SECRET_KEY"),
        (
            {"flutterwave_test_secret_key": FLUTTERWAVE_LIVE},
            "MICRO_PAYMENTS_FLUTTERWAVE_LIVE_SECRET_KEY",
        ),
        (
            {"flutterwave_live_secret_key": FLUTTERWAVE_KEY},
            "MICRO_PAYMENTS_FLUTTERWAVE_TEST_SECRET_KEY",
        ),
        (
            {"paystack_secret_key": PAYSTACK_KEY, "paystack_test_secret_key": "sk_test_other"},
            "set one of them",
        ),
    ],
)
def test_a_key_in_the_wrong_slot_is_refused(values: dict[str, str], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        PaymentsSettings.model_validate({**TEST_SECRET_FIELDS, **values})


async def test_the_service_refuses_to_start_with_a_live_key_in_the_test_slot(
    create_db: CreateDb, tmp_path: Path
) -> None:
    log = tmp_path / "payments.log"
    env = {
        "MICRO_PAYMENTS_DATABASE_URL": await create_db("payments"),
        "MICRO_PAYMENTS_PAYSTACK_TEST_SECRET_KEY": PAYSTACK_LIVE,
    }
    with serve_process("payments", env, log) as process:
        assert process.wait(60) == 1
    said = output(log)
    assert "MICRO_PAYMENTS_PAYSTACK_TEST_SECRET_KEY holds a live-mode paystack key" in said
    assert PAYSTACK_LIVE not in said  # the key itself is never printed
    assert "Traceback" not in said
