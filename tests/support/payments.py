"""Helpers the payments tests share: identities, the providers' settings for the fakes,
requests, database reads, and the service run as a real process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx

from services.payments.service.provider_accounts import ProviderSource
from services.payments.service.reconcile import reconcile_once
from services.payments.settings import PaymentsSettings
from shared.identity import Identity, mint
from shared.v1 import Dialect
from tests.fakes.providers import FakeProvider
from tests.support.asgi import ServiceClient, identity_headers
from tests.support.processes import START_WITHIN
from tests.support.secrets import TEST_IDENTITY_KEY, TEST_SECRET_FIELDS, TEST_SECRETS

BASE = "/payments/payment_intents"
PAYSTACK_KEY = "sk_test_platform_paystack_0001"
FLUTTERWAVE_KEY = "FLWSECK_TEST-platform-0001-X"
BANK = {"account_number": "0123456789", "bank_code": "058", "account_name": "Ada Obi"}
# The tenant `key()` speaks for unless told otherwise.
TENANT = "ten_providers"


def key(tenant: str = TENANT, livemode: bool = False) -> dict[str, str]:
    return identity_headers(tenant_id=tenant, livemode=livemode)


def anonymous() -> dict[str, str]:
    return identity_headers(tenant_id=None, principal="anonymous", principal_type="anonymous")


# How long the service waits for a provider's fake. Generous: on a loaded CI machine the fake
# took more than 0.5 s to answer (a confirm then timed out in a test about something else).
# A fake that is made to hang (`slow`, `lost_answers`) hangs for its `delay`, well past this.
PROVIDER_TIMEOUT = 1.5


def overrides(paystack: FakeProvider, flutterwave: FakeProvider) -> dict[str, Any]:
    return {
        "paystack_base_url": paystack.url,
        "flutterwave_base_url": flutterwave.url,
        "paystack_secret_key": PAYSTACK_KEY,
        "flutterwave_secret_key": FLUTTERWAVE_KEY,
        "flutterwave_secret_hash": flutterwave.secret_hash,
        "provider_timeout": PROVIDER_TIMEOUT,
        "relay_interval": 3600,
        "reconcile_interval": 3600,
        "reconcile_after": 0,
    }


async def create(client: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    body = {"amount": 5000, "currency": "ngn", "receipt_email": "ada@example.com", **fields}
    return await client.post(BASE, json=body, headers=key())


async def confirm(client: httpx.AsyncClient, intent_id: str) -> httpx.Response:
    return await client.post(f"{BASE}/{intent_id}/confirm", json={}, headers=key())


async def pay_out(
    client: httpx.AsyncClient, provider: str, amount: int, currency: str = "ngn"
) -> httpx.Response:
    """A payout of `amount` to the test bank account, through `provider`."""
    body = {"amount": amount, "currency": currency, "destination": BANK, "provider": provider}
    return await client.post("/payments/payouts", json=body, headers=key())


async def get_payout(client: httpx.AsyncClient, payout_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (
        await client.get(f"/payments/payouts/{payout_id}", headers=key())
    ).json()
    return body


async def get(client: httpx.AsyncClient, intent_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"{BASE}/{intent_id}", headers=key())).json()
    return body


async def fetch(dsn: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def postings(dsn: str) -> list[str]:
    rows = await fetch(dsn, "SELECT reference_id FROM ledger_outbox ORDER BY created_at")
    return [r["reference_id"] for r in rows]


async def reconcile(
    dsn: str, paystack: FakeProvider, flutterwave: FakeProvider, **more: Any
) -> dict[str, int]:
    settings = PaymentsSettings.model_validate(
        {"database_url": dsn, **TEST_SECRET_FIELDS, **overrides(paystack, flutterwave), **more}
    )
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    assert pool is not None
    try:
        async with aiohttp.ClientSession() as http:
            reconciled = await reconcile_once(pool, ProviderSource(settings, http), settings)
    finally:
        await pool.close()
    return dict(reconciled.value)


async def webhook(
    client: httpx.AsyncClient, provider: str, signed: tuple[bytes, dict[str, str]], path: str = ""
) -> httpx.Response:
    body, headers = signed
    return await client.post(
        f"/webhooks/{provider}{path}", content=body, headers={**anonymous(), **headers}
    )


@contextlib.contextmanager
def serve_process(app: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", app],
            env={**os.environ, **TEST_SECRETS, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def output(log: Path) -> str:
    return log.read_text(errors="replace")


async def healthy(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_WITHIN
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"exited {process.returncode}:\n{output(log)}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError(f"not healthy in time:\n{output(log)}")


@contextlib.asynccontextmanager
async def payments_client(
    service_client: ServiceClient, dsn: str, **overrides: object
) -> AsyncIterator[httpx.AsyncClient]:
    """The payments service in-process, on the database `dsn`."""
    async with service_client("payments", database_url=dsn, **overrides) as client:
        yield client


class Caller(Mapping[str, str]):
    """A tenant's API key as the gateway hands it on: on Micro's paths, or (`dialect=
    "stripe"`) on Stripe's `/v1` ones. The identity token is minted whenever the headers are
    read, so a caller made once per module outlives the token's minute."""

    def __init__(
        self,
        tenant: str,
        *,
        livemode: bool,
        dialect: Dialect,
        idempotency: str | None,
    ) -> None:
        self.identity = Identity(
            principal="key_test", principal_type="api_key", tenant_id=tenant,
            livemode=livemode, dialect=dialect,
        )  # fmt: skip
        self.idempotency = idempotency

    def _headers(self) -> dict[str, str]:
        headers = {"X-Micro-Identity": mint(self.identity, TEST_IDENTITY_KEY)}
        if self.idempotency is not None:
            headers["Idempotency-Key"] = self.idempotency
        return headers

    def __getitem__(self, name: str) -> str:
        return self._headers()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers())

    def __len__(self) -> int:
        return len(self._headers())


def caller(
    tenant: str = TENANT,
    *,
    livemode: bool = False,
    dialect: Dialect = "micro",
    idempotency: str | None = None,
) -> Caller:
    return Caller(tenant, livemode=livemode, dialect=dialect, idempotency=idempotency)


async def made(response: httpx.Response) -> dict[str, Any]:
    """The object a successful call answered."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def new_customer(
    client: httpx.AsyncClient, headers: Mapping[str, str], **fields: Any
) -> dict[str, Any]:
    return await made(await client.post("/payments/customers", json=fields, headers=headers))


async def attach(
    client: httpx.AsyncClient, headers: Mapping[str, str], method: str, customer: str
) -> dict[str, Any]:
    return await made(
        await client.post(
            f"/payments/payment_methods/{method}/attach",
            json={"customer": customer},
            headers=headers,
        )
    )


async def events_of(dsn: str, type: str) -> list[dict[str, Any]]:
    """The events of `type` in the outbox, oldest first."""
    rows = await fetch(dsn, "SELECT payload FROM outbox WHERE type = $1 ORDER BY seq", type)
    return [json.loads(r["payload"]) for r in rows]
