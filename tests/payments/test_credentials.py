"""A tenant's provider accounts: encrypted at rest, masked by the API, scoped to tenant and
mode, managed by admins and API keys only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from cryptography.fernet import Fernet

from shared import secrets
from tests.conftest import ServiceClient
from tests.fakes.providers import FakeProvider, serve
from tests.support.asgi import identity_headers
from tests.support.payments import payments_client
from tests.support.secrets import TEST_SECRETS

SECRET = "sk_test_tenant_secret_abcdef123456"
HASH = "my-flutterwave-secret-hash-99"
URL = "/payments/providers"


def key(tenant: str = "ten_creds", livemode: bool = False) -> dict[str, str]:
    return identity_headers(tenant_id=tenant, livemode=livemode)


def user(role: str) -> dict[str, str]:
    return identity_headers(
        tenant_id="ten_creds", principal="usr_1", principal_type="user", role=role
    )


@pytest.fixture
async def client(service_client: ServiceClient, dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    async with payments_client(service_client, dsn, relay_interval=3600) as http:
        yield http


async def stored(dsn: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch("SELECT * FROM provider_credentials"))
    finally:
        await conn.close()


async def put(
    client: httpx.AsyncClient, provider: str = "flutterwave", **body: Any
) -> httpx.Response:
    fields = {"secret_key": SECRET, "webhook_secret": HASH, "public_key": "FLWPUBK_TEST-1", **body}
    return await client.put(f"{URL}/{provider}", json=fields, headers=key())


async def test_secrets_are_encrypted_at_rest_and_never_shown(
    client: httpx.AsyncClient, dsn: str
) -> None:
    response = await put(client)
    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown["secret_key"] == "••••3456"
    assert shown["webhook_secret"] == "••••"
    assert shown["public_key"] == "FLWPUBK_TEST-1"
    assert shown["source"] == "tenant"
    assert shown["webhook_url"].endswith("/webhooks/flutterwave/ten_creds")
    assert SECRET not in response.text
    assert HASH not in response.text
    got = await client.get(f"{URL}/flutterwave", headers=key())
    assert SECRET not in got.text
    assert HASH not in got.text
    listed = await client.get(URL, headers=key())
    assert SECRET not in listed.text
    [row] = await stored(dsn)
    for column, plaintext in (("secret_key", SECRET), ("webhook_secret", HASH)):
        raw = bytes(row[column])
        assert plaintext.encode() not in raw
        assert raw.startswith(b"gAAAAA")  # a Fernet token


async def confirmed_at_flutterwave(client: httpx.AsyncClient) -> httpx.Response:
    """A new intent confirmed through Flutterwave: it needs the stored credentials read."""
    return await client.post(
        "/payments/payment_intents",
        json={"amount": 100, "currency": "ngn", "provider": "flutterwave",
              "receipt_email": "a@example.com", "confirm": True},
        headers=key(),
    )  # fmt: skip


async def test_another_key_cannot_read_them(service_client: ServiceClient, dsn: str) -> None:
    async with payments_client(service_client, dsn, relay_interval=3600) as client:
        assert (await put(client)).status_code == 200
    other = Fernet.generate_key().decode()  # another deployment's
    async with payments_client(
        service_client, dsn, relay_interval=3600, credentials_key=other
    ) as client:
        response = await confirmed_at_flutterwave(client)
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "credentials_unreadable"
        assert SECRET not in response.text


async def test_keys_rotate_without_re_encrypting(service_client: ServiceClient, dsn: str) -> None:
    old = TEST_SECRETS[secrets.CREDENTIALS.env]  # what the first service encrypted with
    new = Fernet.generate_key().decode()
    async with payments_client(service_client, dsn, relay_interval=3600) as client:
        assert (await put(client)).status_code == 200
    async with serve(FakeProvider("flutterwave", SECRET)) as fake, payments_client(
        service_client, dsn, relay_interval=3600, flutterwave_base_url=fake.url,
        credentials_key=f"{new},{old}",
    ) as client:  # fmt: skip
        response = await confirmed_at_flutterwave(client)
        assert response.json()["status"] == "requires_action", response.text


async def test_tenant_and_mode_isolation(client: httpx.AsyncClient) -> None:
    assert (await put(client)).status_code == 200
    mine = (await client.get(f"{URL}/flutterwave", headers=key())).json()
    live = (await client.get(f"{URL}/flutterwave", headers=key(livemode=True))).json()
    theirs = (await client.get(f"{URL}/flutterwave", headers=key("ten_else"))).json()
    assert mine["source"] == "tenant"
    assert live["source"] == theirs["source"] == "none"
    assert (await client.delete(f"{URL}/flutterwave", headers=key("ten_else"))).status_code == 404
    assert (await client.get(f"{URL}/flutterwave", headers=key())).json()["source"] == "tenant"


async def test_delete_falls_back_to_the_platform(service_client: ServiceClient, dsn: str) -> None:
    async with payments_client(
        service_client, dsn, relay_interval=3600, flutterwave_secret_key="FLWSECK_platform"
    ) as client:
        assert (await client.get(f"{URL}/flutterwave", headers=key())).json()["source"] == (
            "platform"
        )
        assert (await put(client)).status_code == 200
        deleted = await client.delete(f"{URL}/flutterwave", headers=key())
        assert deleted.json()["deleted"] is True
        assert (await client.get(f"{URL}/flutterwave", headers=key())).json()["source"] == (
            "platform"
        )


async def test_a_provider_without_any_account_refuses_intents(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/payments/payment_intents",
        json={"amount": 100, "currency": "ngn", "provider": "paystack"},
        headers=key(),
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "provider_not_configured"


async def test_form_encoded(client: httpx.AsyncClient) -> None:
    response = await client.put(
        f"{URL}/paystack",
        content=f"secret_key={SECRET}&public_key=pk_test_1".encode(),
        headers={**key(), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert response.json()["secret_key"] == "••••3456"


@pytest.mark.parametrize("role", ["TENANT_ADMIN", "PLATFORM_ADMIN"])
async def test_admins_may(client: httpx.AsyncClient, role: str) -> None:
    response = await client.put(f"{URL}/paystack", json={"secret_key": SECRET}, headers=user(role))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", f"{URL}/paystack"),
        ("GET", f"{URL}/paystack"),
        ("GET", URL),
        ("DELETE", f"{URL}/paystack"),
    ],
)
async def test_plain_users_may_not(
    client: httpx.AsyncClient, dsn: str, method: str, path: str
) -> None:
    body = {"secret_key": SECRET} if method == "PUT" else None
    response = await client.request(method, path, json=body, headers=user("USER"))
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"
    assert await stored(dsn) == []


@pytest.mark.parametrize(
    ("provider", "body", "status", "param"),
    [
        ("paystack", {}, 400, "secret_key"),
        ("paystack", {"secret_key": "short"}, 400, "secret_key"),
        ("paystack", {"secret_key": 12345678}, 400, "secret_key"),
        ("paystack", {"secret_key": "has spaces in it"}, 400, "secret_key"),
        ("paystack", {"secret_key": SECRET, "extra": 1}, 400, "extra"),
        ("paystack", {"secret_key": "x" * 501}, 400, "secret_key"),
        ("stripe", {"secret_key": SECRET}, 404, "provider"),
        ("simulator", {"secret_key": SECRET}, 404, "provider"),
    ],
)
async def test_bad_input(
    client: httpx.AsyncClient, dsn: str, provider: str, body: dict[str, Any], status: int,
    param: str,
) -> None:  # fmt: skip
    response = await client.put(f"{URL}/{provider}", json=body, headers=key())
    assert response.status_code == status
    assert response.json()["error"]["param"] == param
    assert await stored(dsn) == []


async def test_deleting_nothing_is_404(client: httpx.AsyncClient) -> None:
    response = await client.delete(f"{URL}/paystack", headers=key())
    assert response.status_code == 404
