"""Services refuse anything that did not come through the gateway."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import httpx
import jwt
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from shared import identity as identity_module
from shared import secrets
from shared.access import Role
from shared.identity import Identity, InternalIdentityMiddleware, identity_of, mint, verify
from shared.settings import SERVICES
from tests.support.asgi import ServiceClient, identity_headers
from tests.support.secrets import TEST_IDENTITY_KEY

# What shared/settings.py once held as every app's default secret: public knowledge.
OLD_DEV_SECRET = "micro-dev-internal-secret-change-me-0123456789"

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
    token = jwt.encode(claims, TEST_IDENTITY_KEY, algorithm="HS256")
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
        principal="usr_1", principal_type="user", tenant_id="ten_1", livemode=True, role=Role.USER
    )
    assert verify(mint(identity, TEST_IDENTITY_KEY), [TEST_IDENTITY_KEY]) == identity


def test_verify_refuses_one_key_given_as_a_string() -> None:
    # A str is a sequence of one-character "keys": passing one by mistake must fail loudly.
    token = mint(Identity("usr_1", "user"), TEST_IDENTITY_KEY)
    with pytest.raises(TypeError):
        verify(token, TEST_IDENTITY_KEY)


@pytest.mark.parametrize("service", SERVICES)
async def test_a_token_forged_with_the_old_dev_secret_is_refused(
    service_client: ServiceClient, service: str
) -> None:
    """The secret once in the source opened every tenant; it must open nothing now."""
    forged = identity_headers(
        secret=OLD_DEV_SECRET, tenant_id=None, principal="usr_x", role="PLATFORM_ADMIN"
    )
    async with service_client(service) as client:
        response = await client.get(LIST_PATHS[service], headers=forged)
    assert response.status_code == 401
    assert_error_shape(response.json(), type_="authentication_error", code="identity_invalid")


class TestRotation:
    """The identity key rotates without downtime: new first (it signs), old still listed."""

    async def test_both_keys_verify_while_both_are_listed(
        self, service_client: ServiceClient
    ) -> None:
        old, new = secrets.generate()[secrets.IDENTITY.env], TEST_IDENTITY_KEY
        async with service_client("ledger", identity_keys=[new, old]) as client:
            for key in (old, new):
                response = await client.get(
                    "/ledger/accounts", headers=identity_headers(secret=key)
                )
                assert response.status_code == 200, key

    async def test_the_old_key_is_refused_once_removed(self, service_client: ServiceClient) -> None:
        old, new = secrets.generate()[secrets.IDENTITY.env], TEST_IDENTITY_KEY
        signed_with_old = identity_headers(secret=old)
        async with service_client("ledger", identity_keys=[new]) as client:
            refused = await client.get("/ledger/accounts", headers=signed_with_old)
            accepted = await client.get("/ledger/accounts", headers=identity_headers(secret=new))
        assert refused.status_code == 401
        assert_error_shape(refused.json(), type_="authentication_error", code="identity_invalid")
        assert accepted.status_code == 200

    def test_the_first_key_signs(self) -> None:
        old, new = secrets.generate()[secrets.IDENTITY.env], TEST_IDENTITY_KEY
        from services.ledger.settings import LedgerSettings

        settings = LedgerSettings(identity_keys=[new, old])
        token = mint(Identity("svc", "service"), settings.identity_key)
        assert verify(token, [new]) == Identity("svc", "service")
        with pytest.raises(Exception, match="invalid"):
            verify(token, [old])


class TestVerifiedTokens:
    """The middleware remembers a verified token until it expires (#19: checking the same
    token's signature again was ~15% of the ledger's CPU per posting); it must never let
    that memory accept a token it would refuse."""

    @staticmethod
    def _app(*, cache_size: int = 10_000) -> InternalIdentityMiddleware:
        async def echo(scope: Scope, receive: Receive, send: Send) -> None:
            await JSONResponse({"principal": identity_of(Request(scope)).principal})(
                scope, receive, send
            )

        return InternalIdentityMiddleware(echo, keys=[TEST_IDENTITY_KEY], cache_size=cache_size)

    @staticmethod
    async def _get(app: ASGIApp, token: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return await client.get("/anything", headers={"X-Micro-Identity": token})

    @staticmethod
    def _count_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
        checked: list[str] = []
        decode = identity_module._decode

        def counting(token: str, keys: Sequence[str]) -> dict[str, Any]:
            checked.append(token)
            return decode(token, keys)

        monkeypatch.setattr(identity_module, "_decode", counting)
        return checked

    async def test_the_same_token_is_checked_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        checked = self._count_checks(monkeypatch)
        app = self._app()
        token = mint(Identity("key_a", "api_key", tenant_id="ten_a"), TEST_IDENTITY_KEY)
        for _ in range(3):
            response = await self._get(app, token)
            assert response.status_code == 200
            assert response.json() == {"principal": "key_a"}
        assert checked == [token]

    async def test_another_token_is_checked_and_answers_its_own_identity(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        checked = self._count_checks(monkeypatch)
        app = self._app()
        first = mint(Identity("key_a", "api_key", tenant_id="ten_a"), TEST_IDENTITY_KEY)
        second = mint(Identity("key_b", "api_key", tenant_id="ten_b"), TEST_IDENTITY_KEY)
        assert (await self._get(app, first)).json() == {"principal": "key_a"}
        assert (await self._get(app, second)).json() == {"principal": "key_b"}
        assert checked == [first, second]

    async def test_a_changed_token_is_refused_after_the_original_was_accepted(self) -> None:
        app = self._app()
        token = mint(Identity("key_a", "api_key", tenant_id="ten_a"), TEST_IDENTITY_KEY)
        assert (await self._get(app, token)).status_code == 200
        header, payload, signature = token.split(".")
        # The same signature over other claims: what a caller who saw one token could try.
        forged_claims = jwt.encode(
            {**jwt.decode(token, options={"verify_signature": False}), "tenant_id": "ten_b"},
            "not-the-internal-secret-but-long-enough-0123",
            algorithm="HS256",
        ).split(".")[1]
        flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
        for changed in (f"{header}.{forged_claims}.{signature}", f"{header}.{payload}.{flipped}"):
            response = await self._get(app, changed)
            assert response.status_code == 401, changed
            assert response.json()["error"]["code"] == "identity_invalid"

    async def test_a_remembered_token_is_refused_once_it_expires(self) -> None:
        app = self._app()
        token = mint(Identity("key_a", "api_key", tenant_id="ten_a"), TEST_IDENTITY_KEY, ttl=1)
        assert (await self._get(app, token)).status_code == 200
        expires = jwt.decode(token, options={"verify_signature": False})["exp"]
        await asyncio.sleep(max(0.0, expires - time.time()) + 0.05)
        response = await self._get(app, token)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "identity_expired"

    async def test_the_memory_is_bounded(self) -> None:
        app = self._app(cache_size=2)
        for n in range(5):
            token = mint(Identity(f"key_{n}", "api_key", tenant_id="ten_a"), TEST_IDENTITY_KEY)
            assert (await self._get(app, token)).json() == {"principal": f"key_{n}"}
            assert len(app._verified) <= 2

    def test_one_key_given_as_a_string_is_refused(self) -> None:
        with pytest.raises(TypeError):
            InternalIdentityMiddleware(self._app(), keys=TEST_IDENTITY_KEY)
