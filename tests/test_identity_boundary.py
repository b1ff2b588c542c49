"""Services refuse anything that did not come through the gateway (DESIGN §5)."""

from __future__ import annotations

import time

import jwt
import pytest

from shared.identity import Identity, mint
from shared.settings import DEV_INTERNAL_SECRET, SERVICES
from tests.conftest import ServiceClient
from tests.support.asgi import identity_headers

LIST_PATHS = {
    "auth": "/auth/me",
    "payments": "/payments/payment_intents",
    "ledger": "/ledger/accounts",
    "wallet": "/wallet",
    "events": "/events",
}


def assert_error_shape(body: dict[str, object], *, type_: str, code: str) -> None:
    error = body["error"]
    assert isinstance(error, dict)
    assert set(error) >= {"type", "code", "message", "param", "request_id"}
    assert error["type"] == type_
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert str(error["request_id"]).startswith("req_")


@pytest.mark.parametrize("service", SERVICES)
async def test_request_without_identity_gets_401(
    service_client: ServiceClient, service: str
) -> None:
    async with service_client(service) as client:
        response = await client.get(LIST_PATHS[service])
    assert response.status_code == 401
    assert_error_shape(response.json(), type_="authentication_error", code="identity_missing")


@pytest.mark.parametrize("service", ["payments", "ledger", "wallet", "events"])
async def test_request_with_identity_passes(service_client: ServiceClient, service: str) -> None:
    async with service_client(service) as client:
        response = await client.get(LIST_PATHS[service], headers=identity_headers())
    assert response.status_code == 200
    assert response.json() == {
        "object": "list",
        "data": [],
        "has_more": False,
        "url": LIST_PATHS[service],
    }


async def test_auth_me_with_identity_reaches_the_handler(service_client: ServiceClient) -> None:
    async with service_client("auth") as client:
        response = await client.get(
            "/auth/me", headers=identity_headers(principal="usr_nobody", principal_type="user")
        )
    # Past the boundary: the handler looked the user up and found nobody.
    assert response.status_code == 404
    assert_error_shape(response.json(), type_="invalid_request_error", code="resource_missing")


async def test_token_signed_with_another_secret_is_refused(service_client: ServiceClient) -> None:
    async with service_client("ledger") as client:
        forged = identity_headers(secret="not-the-internal-secret-but-long-enough-0123")
        response = await client.get("/ledger/accounts", headers=forged)
    assert response.status_code == 401
    assert_error_shape(response.json(), type_="authentication_error", code="identity_invalid")


async def test_expired_token_is_refused(service_client: ServiceClient) -> None:
    now = int(time.time())
    claims = {
        "principal": "key_x",
        "principal_type": "api_key",
        "tenant_id": "ten_x",
        "livemode": False,
        "aud": "micro-internal",
        "iat": now - 600,
        "exp": now - 300,
    }
    token = jwt.encode(claims, DEV_INTERNAL_SECRET, algorithm="HS256")
    async with service_client("ledger") as client:
        response = await client.get("/ledger/accounts", headers={"X-Micro-Identity": token})
    assert response.status_code == 401
    assert_error_shape(response.json(), type_="authentication_error", code="identity_expired")


async def test_garbage_token_is_refused(service_client: ServiceClient) -> None:
    async with service_client("ledger") as client:
        response = await client.get("/ledger/accounts", headers={"X-Micro-Identity": "abc.def"})
    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/health", "/ready", "/metrics", "/openapi.json"])
async def test_probes_and_spec_need_no_identity(service_client: ServiceClient, path: str) -> None:
    async with service_client("ledger") as client:
        response = await client.get(path)
    assert response.status_code == 200


def test_identity_round_trip() -> None:
    identity = Identity(
        principal="usr_1", principal_type="user", tenant_id="ten_1", livemode=True, role="USER"
    )
    from shared.identity import verify

    assert verify(mint(identity, DEV_INTERNAL_SECRET), DEV_INTERNAL_SECRET) == identity
