"""Bad input on every auth endpoint, through the gateway (errors: docs/architecture.md).

Every refusal is the shared error shape with a 4xx, never a 500, and a refused write leaves
nothing behind that a caller could see: the email stays free, the slug stays free, the
tenant keeps its name, the key keeps working.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from shared.ids import new_id
from tests.e2e.accounts import (
    PASSWORD,
    Account,
    create_key,
    key_headers,
    platform_admin,
    register,
    signup_user,
    tenant_slug,
    unique_email,
)
from tests.e2e.stack import RunningStack

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024


def error(response: httpx.Response) -> dict[str, Any]:
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    detail: dict[str, Any] = body["error"]
    assert set(detail) >= {"type", "code", "message", "param", "request_id"}, detail
    assert detail["request_id"] == response.headers["x-request-id"]
    return detail


def refused(response: httpx.Response, status: int, code: str, param: str | None = None) -> None:
    assert response.status_code == status, response.text
    detail = error(response)
    assert detail["code"] == code, detail
    if param is not None:
        assert detail["param"] == param, detail


def email_is_free(client: httpx.Client, email: str) -> bool:
    """Whether `email` can still register; registering it takes it."""
    response = client.post("/auth/register", json={"email": email, "password": PASSWORD})
    return response.status_code == 201


def login_status(client: httpx.Client, email: str, password: str = PASSWORD) -> int:
    return client.post("/auth/login", json={"email": email, "password": password}).status_code


def random_key(prefix: str = "sk_test_") -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(40))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def admin(stack: RunningStack) -> Iterator[Account]:
    with stack.client() as client:
        yield platform_admin(client)


@pytest.fixture
def owner(gw: httpx.Client) -> Account:
    return register(gw)


class TestRegister:
    @pytest.mark.parametrize("field", ["email", "password"])
    def test_a_missing_field_is_named(self, gw: httpx.Client, field: str) -> None:
        body = {"email": unique_email(), "password": PASSWORD}
        del body[field]
        refused(gw.post("/auth/register", json=body), 400, "parameter_missing", field)

    def test_an_empty_body_asks_for_the_email(self, gw: httpx.Client) -> None:
        refused(gw.post("/auth/register", json={}), 400, "parameter_missing", "email")

    @pytest.mark.parametrize(
        ("changes", "param"),
        [
            ({"email": ["x"]}, "email"),
            ({"email": None}, "email"),
            ({"email": 42}, "email"),
            ({"password": 123}, "password"),
            ({"password": 12345678}, "password"),
            ({"password": ["correct horse battery"]}, "password"),
            ({"business_name": 7}, "business_name"),
            ({"business_name": {"name": "Acme"}}, "business_name"),
        ],
    )
    def test_a_wrong_type_is_refused(
        self, gw: httpx.Client, changes: dict[str, Any], param: str
    ) -> None:
        body = {"email": unique_email(), "password": PASSWORD, **changes}
        refused(gw.post("/auth/register", json=body), 400, "parameter_invalid", param)

    @pytest.mark.parametrize(
        "email",
        [
            "not-an-email",
            "dev@",
            "@example.com",
            "dev@@example.com",
            "dev example@example.com",
            "dev@example",
            "",
            "   ",
            f"{'x' * 300}@example.com",
        ],
    )
    def test_a_bad_email_is_refused(self, gw: httpx.Client, email: str) -> None:
        response = gw.post("/auth/register", json={"email": email, "password": PASSWORD})
        refused(response, 400, "parameter_invalid", "email")

    @pytest.mark.parametrize("length", [0, 1, 7])
    def test_a_short_password_is_refused(self, gw: httpx.Client, length: int) -> None:
        email = unique_email()
        response = gw.post("/auth/register", json={"email": email, "password": "p" * length})
        refused(response, 400, "parameter_invalid", "password")
        assert email_is_free(gw, email)

    def test_an_eight_character_password_is_enough(self, gw: httpx.Client) -> None:
        email = unique_email()
        response = gw.post("/auth/register", json={"email": email, "password": "p" * 8})
        assert response.status_code == 201, response.text
        assert login_status(gw, email, "p" * 8) == 200

    def test_a_1024_character_password_is_accepted(self, gw: httpx.Client) -> None:
        email = unique_email()
        password = "p" * 1024
        response = gw.post("/auth/register", json={"email": email, "password": password})
        assert response.status_code == 201, response.text
        assert login_status(gw, email, password) == 200

    @pytest.mark.parametrize("length", [1025, 10 * 1024])
    def test_an_overlong_password_is_refused(self, gw: httpx.Client, length: int) -> None:
        email = unique_email()
        response = gw.post("/auth/register", json={"email": email, "password": "p" * length})
        refused(response, 400, "parameter_invalid", "password")
        assert email_is_free(gw, email)

    @pytest.mark.parametrize(
        "extra",
        [{"role": "PLATFORM_ADMIN"}, {"tenant_id": "ten_01jd0000000000000000000000"}, {"x": 1}],
    )
    def test_an_unknown_field_is_refused_and_writes_nothing(
        self, gw: httpx.Client, extra: dict[str, Any]
    ) -> None:
        email = unique_email()
        response = gw.post("/auth/register", json={"email": email, "password": PASSWORD, **extra})
        refused(response, 400, "parameter_unknown", next(iter(extra)))
        assert email_is_free(gw, email)

    @pytest.mark.parametrize("name", ["", "n" * 201])
    def test_a_bad_business_name_writes_nothing(self, gw: httpx.Client, name: str) -> None:
        email = unique_email()
        response = gw.post(
            "/auth/register", json={"email": email, "password": PASSWORD, "business_name": name}
        )
        refused(response, 400, "parameter_invalid", "business_name")
        assert email_is_free(gw, email)

    @pytest.mark.parametrize(
        "raw",
        [b'{"email": "dev@example.com", ', b"{'email': 'x'}", b'{"email": }', b"\xff\xfe{}"],
    )
    def test_malformed_json_is_refused(self, gw: httpx.Client, raw: bytes) -> None:
        response = gw.post(
            "/auth/register", content=raw, headers={"Content-Type": "application/json"}
        )
        refused(response, 400, "invalid_json")

    def test_a_json_array_is_not_an_object(self, gw: httpx.Client) -> None:
        response = gw.post("/auth/register", json=[{"email": unique_email()}])
        refused(response, 400, "invalid_json")

    def test_an_unsupported_content_type_is_415(self, gw: httpx.Client) -> None:
        response = gw.post(
            "/auth/register", content=b"dev@example.com", headers={"Content-Type": "text/plain"}
        )
        refused(response, 415, "unsupported_media_type")

    def test_a_form_encoded_body_registers(self, gw: httpx.Client) -> None:
        email = unique_email()
        response = gw.post("/auth/register", data={"email": email, "password": PASSWORD})
        assert response.status_code == 201, response.text
        assert response.json()["user"]["email"] == email
        assert login_status(gw, email) == 200

    def test_json_under_a_form_content_type_registers(self, gw: httpx.Client) -> None:
        email = unique_email()
        response = gw.post(
            "/auth/register",
            content=json.dumps({"email": email, "password": PASSWORD}),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 201, response.text
        assert login_status(gw, email) == 200

    def test_a_taken_email_is_409(self, gw: httpx.Client, owner: Account) -> None:
        response = gw.post(
            "/auth/register", json={"email": owner.email, "password": "another password"}
        )
        refused(response, 409, "email_taken", "email")
        assert login_status(gw, owner.email, "another password") == 401
        assert login_status(gw, owner.email) == 200

    def test_a_taken_email_in_another_case_is_409(self, gw: httpx.Client) -> None:
        label = secrets.token_hex(4)
        first = gw.post(
            "/auth/register", json={"email": f"Dev-{label}@Example.com", "password": PASSWORD}
        )
        assert first.status_code == 201, first.text
        assert first.json()["user"]["email"] == f"dev-{label}@example.com"
        second = gw.post(
            "/auth/register", json={"email": f"dev-{label}@example.com", "password": PASSWORD}
        )
        refused(second, 409, "email_taken", "email")

    def test_an_email_signs_in_in_any_case(self, gw: httpx.Client, owner: Account) -> None:
        assert login_status(gw, owner.email.upper()) == 200

    def test_a_body_over_one_mebibyte_is_413(self, gw: httpx.Client) -> None:
        email = unique_email()
        body = {"email": email, "password": PASSWORD, "business_name": "n" * MIB}
        refused(gw.post("/auth/register", json=body), 413, "payload_too_large")
        assert email_is_free(gw, email)

    def test_a_streamed_body_over_one_mebibyte_is_413(self, gw: httpx.Client) -> None:
        # No Content-Length to trust: the gateway must count as it reads.
        def chunks() -> Iterator[bytes]:
            yield b'{"email": "streamed@example.com", "business_name": "'
            for _ in range(17):
                yield b"n" * 65536
            yield b'"}'

        response = gw.post(
            "/auth/register", content=chunks(), headers={"Content-Type": "application/json"}
        )
        refused(response, 413, "payload_too_large")

    def test_racing_registrations_of_one_email_make_one_account(self, stack: RunningStack) -> None:
        email = unique_email()

        def attempt(_: int) -> int:
            with stack.client() as client:
                body = {"email": email, "password": PASSWORD}
                return client.post("/auth/register", json=body).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = sorted(pool.map(attempt, range(8)))
        assert statuses == [201] + [409] * 7

    @pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"a":' * 100_000])
    def test_deeply_nested_json_is_400(self, gw: httpx.Client, raw: bytes) -> None:
        response = gw.post(
            "/auth/register", content=raw, headers={"Content-Type": "application/json"}
        )
        refused(response, 400, "invalid_json")


class TestSignup:
    def test_a_missing_tenant_is_named(self, gw: httpx.Client) -> None:
        response = gw.post("/auth/signup", json={"email": unique_email(), "password": PASSWORD})
        refused(response, 400, "parameter_missing", "tenant")

    @pytest.mark.parametrize("tenant", ["no-such-tenant", new_id("ten"), "ten_nonsense"])
    def test_an_unknown_tenant_is_404_and_writes_nothing(
        self, gw: httpx.Client, tenant: str
    ) -> None:
        email = unique_email()
        response = gw.post(
            "/auth/signup", json={"email": email, "password": PASSWORD, "tenant": tenant}
        )
        refused(response, 404, "resource_missing", "tenant")
        assert email_is_free(gw, email)

    @pytest.mark.parametrize("tenant", [123, ["x"], None, ""])
    def test_a_bad_tenant_value_is_refused(self, gw: httpx.Client, tenant: Any) -> None:
        response = gw.post(
            "/auth/signup", json={"email": unique_email(), "password": PASSWORD, "tenant": tenant}
        )
        refused(response, 400, "parameter_invalid", "tenant")

    def test_signup_by_slug_makes_a_user(self, gw: httpx.Client, owner: Account) -> None:
        slug = tenant_slug(gw, owner)
        response = gw.post(
            "/auth/signup", json={"email": unique_email(), "password": PASSWORD, "tenant": slug}
        )
        assert response.status_code == 201, response.text
        assert response.json()["user"]["role"] == "USER"
        assert response.json()["user"]["tenant_id"] == owner.tenant_id

    def test_a_role_cannot_be_chosen(self, gw: httpx.Client, owner: Account) -> None:
        email = unique_email()
        response = gw.post(
            "/auth/signup",
            json={
                "email": email,
                "password": PASSWORD,
                "tenant": owner.tenant_id,
                "role": "TENANT_ADMIN",
            },
        )
        refused(response, 400, "parameter_unknown", "role")
        assert email_is_free(gw, email)

    def test_a_short_password_writes_nothing(self, gw: httpx.Client, owner: Account) -> None:
        email = unique_email()
        response = gw.post(
            "/auth/signup", json={"email": email, "password": "short", "tenant": owner.tenant_id}
        )
        refused(response, 400, "parameter_invalid", "password")
        assert email_is_free(gw, email)

    def test_a_taken_email_is_409(self, gw: httpx.Client, owner: Account) -> None:
        response = gw.post(
            "/auth/signup",
            json={"email": owner.email.upper(), "password": PASSWORD, "tenant": owner.tenant_id},
        )
        refused(response, 409, "email_taken", "email")

    def test_malformed_json_is_refused(self, gw: httpx.Client) -> None:
        response = gw.post(
            "/auth/signup", content=b'{"email": ', headers={"Content-Type": "application/json"}
        )
        refused(response, 400, "invalid_json")


class TestLogin:
    @pytest.mark.parametrize("path", ["/auth/login", "/auth/admin"])
    @pytest.mark.parametrize("field", ["email", "password"])
    def test_a_missing_field_is_named(self, gw: httpx.Client, path: str, field: str) -> None:
        body = {"email": unique_email(), "password": PASSWORD}
        del body[field]
        refused(gw.post(path, json=body), 400, "parameter_missing", field)

    @pytest.mark.parametrize(
        ("changes", "param"),
        [
            ({"email": ["x"]}, "email"),
            ({"email": "not-an-email"}, "email"),
            ({"password": 123}, "password"),
            ({"password": ""}, "password"),
            ({"password": "p" * (10 * 1024)}, "password"),
        ],
    )
    def test_a_bad_value_is_refused(
        self, gw: httpx.Client, changes: dict[str, Any], param: str
    ) -> None:
        body = {"email": unique_email(), "password": PASSWORD, **changes}
        refused(gw.post("/auth/login", json=body), 400, "parameter_invalid", param)

    def test_an_unknown_field_is_refused(self, gw: httpx.Client, owner: Account) -> None:
        response = gw.post(
            "/auth/login", json={"email": owner.email, "password": PASSWORD, "remember": True}
        )
        refused(response, 400, "parameter_unknown", "remember")

    def test_malformed_json_is_refused(self, gw: httpx.Client) -> None:
        response = gw.post(
            "/auth/login", content=b"{email: x}", headers={"Content-Type": "application/json"}
        )
        refused(response, 400, "invalid_json")

    def test_a_wrong_password_and_an_unknown_email_read_alike(
        self, gw: httpx.Client, owner: Account
    ) -> None:
        wrong = gw.post("/auth/login", json={"email": owner.email, "password": "wrong password"})
        unknown = gw.post("/auth/login", json={"email": unique_email(), "password": PASSWORD})
        refused(wrong, 401, "invalid_credentials")
        refused(unknown, 401, "invalid_credentials")
        assert error(wrong)["message"] == error(unknown)["message"]

    def test_a_form_encoded_body_signs_in(self, gw: httpx.Client, owner: Account) -> None:
        response = gw.post("/auth/login", data={"email": owner.email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        assert response.json()["user"]["id"] == owner.user_id

    def test_all_of_a_password_past_72_bytes_counts(self, gw: httpx.Client) -> None:
        # bcrypt alone reads 72 bytes: these two would hash alike without Micro's pre-hash.
        email = unique_email()
        right, wrong = "a" * 80 + "X", "a" * 80 + "Y"
        assert gw.post("/auth/register", json={"email": email, "password": right}).is_success
        assert login_status(gw, email, wrong) == 401
        assert login_status(gw, email, right) == 200

    def test_spaces_around_a_password_are_part_of_it(self, gw: httpx.Client) -> None:
        email = unique_email()
        padded = f"  {PASSWORD}  "
        assert gw.post("/auth/register", json={"email": email, "password": padded}).is_success
        assert login_status(gw, email, PASSWORD) == 401
        assert login_status(gw, email, padded) == 200


class TestBearerTokens:
    @pytest.mark.parametrize(
        ("authorization", "code"),
        [
            ("Bearer garbage", "invalid_token"),
            ("Bearer a.b.c", "invalid_token"),
            ("Bearer eyJhbGciOiJFZERTQSJ9", "invalid_token"),
            ("Bearer", "missing_credentials"),
            ("Token abcdef", "missing_credentials"),
            ("Basic !!!", "missing_credentials"),
        ],
    )
    def test_a_garbage_credential_is_401(
        self, gw: httpx.Client, authorization: str, code: str
    ) -> None:
        response = gw.get("/auth/me", headers={"Authorization": authorization})
        refused(response, 401, code)
        assert error(response)["type"] == "authentication_error"

    def test_a_token_signed_with_another_key_is_401(self, gw: httpx.Client, owner: Account) -> None:
        header = jwt.get_unverified_header(owner.access_token)
        claims = jwt.decode(owner.access_token, options={"verify_signature": False})
        forged = jwt.encode(
            claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": header["kid"]}
        )
        response = gw.get("/auth/me", headers={"Authorization": f"Bearer {forged}"})
        refused(response, 401, "invalid_token")

    def test_a_token_with_another_key_and_kid_is_401(
        self, gw: httpx.Client, owner: Account
    ) -> None:
        claims = jwt.decode(owner.access_token, options={"verify_signature": False})
        forged = jwt.encode(
            claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "attacker"}
        )
        response = gw.get("/auth/me", headers={"Authorization": f"Bearer {forged}"})
        refused(response, 401, "invalid_token")

    def test_an_unsigned_token_is_401(self, gw: httpx.Client, owner: Account) -> None:
        header = jwt.get_unverified_header(owner.access_token)
        claims = jwt.decode(owner.access_token, options={"verify_signature": False})
        unsigned = ".".join(
            [
                b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": header["kid"]}).encode()),
                b64url(json.dumps(claims).encode()),
                "",
            ]
        )
        response = gw.get("/auth/me", headers={"Authorization": f"Bearer {unsigned}"})
        refused(response, 401, "invalid_token")

    def test_a_token_with_edited_claims_is_401(self, gw: httpx.Client, owner: Account) -> None:
        head, _, signature = owner.access_token.split(".")
        claims = jwt.decode(owner.access_token, options={"verify_signature": False})
        edited = b64url(json.dumps({**claims, "role": "PLATFORM_ADMIN"}).encode())
        response = gw.get(
            "/tenants", headers={"Authorization": f"Bearer {head}.{edited}.{signature}"}
        )
        refused(response, 401, "invalid_token")

    def test_an_expired_token_is_401(
        self, gw: httpx.Client, stack: RunningStack, owner: Account
    ) -> None:
        # Signed with Micro's own key (read from the dev stack's database), only older.
        pem = subprocess.run(
            ["psql", stack.dsn("auth"), "-tAc",
             "select private_pem from signing_keys order by created_at desc limit 1"],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout.strip()  # fmt: skip
        key = load_pem_private_key(pem.encode(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        header = jwt.get_unverified_header(owner.access_token)
        claims = jwt.decode(owner.access_token, options={"verify_signature": False})
        now = int(time.time())
        expired = jwt.encode(
            {**claims, "iat": now - 1000, "exp": now - 100},
            key,
            algorithm="EdDSA",
            headers={"kid": header["kid"]},
        )
        response = gw.get("/auth/me", headers={"Authorization": f"Bearer {expired}"})
        refused(response, 401, "token_expired")


class TestApiKeyCredentials:
    def test_an_unknown_key_is_401_and_masked(self, gw: httpx.Client) -> None:
        secret = random_key()
        response = gw.get("/ledger/accounts", headers=key_headers(secret))
        refused(response, 401, "invalid_api_key")
        assert f"sk_test_...{secret[-4:]}" in error(response)["message"]
        assert secret not in response.text
        assert secret[8:-4] not in response.text

    def test_an_unknown_key_on_a_session_endpoint_is_403(self, gw: httpx.Client) -> None:
        secret = random_key("sk_live_")
        response = gw.get("/auth/me", headers=key_headers(secret))
        refused(response, 403, "session_required")
        assert secret not in response.text

    def test_a_revoked_key_is_401(self, gw: httpx.Client, owner: Account) -> None:
        key = create_key(gw, owner)
        assert gw.get("/ledger/accounts", headers=key_headers(key["secret"])).status_code == 200
        revoked = gw.delete(f"/auth/api_keys/{key['id']}", headers=owner.headers)
        assert revoked.json()["status"] == "revoked"
        response = gw.get("/ledger/accounts", headers=key_headers(key["secret"]))
        assert response.status_code == 401, response.text
        assert error(response)["code"] in ("api_key_revoked", "invalid_api_key")
        assert key["secret"] not in response.text


class TestRefresh:
    def test_a_refresh_token_works_once(self, gw: httpx.Client, owner: Account) -> None:
        first = gw.post("/auth/refresh", json={"refresh_token": owner.refresh_token})
        assert first.status_code == 200, first.text
        tokens = first.json()
        assert tokens["refresh_token"] != owner.refresh_token
        me = gw.get("/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.json()["id"] == owner.user_id

    def test_reusing_a_refresh_token_is_refused_and_ends_the_session(
        self, gw: httpx.Client, owner: Account
    ) -> None:
        newer = gw.post("/auth/refresh", json={"refresh_token": owner.refresh_token}).json()
        again = gw.post("/auth/refresh", json={"refresh_token": owner.refresh_token})
        refused(again, 401, "refresh_token_reused")
        # The thief or the owner holds `newer`: the whole family is revoked.
        response = gw.post("/auth/refresh", json={"refresh_token": newer["refresh_token"]})
        assert response.status_code == 401, response.text

    def test_reuse_also_ends_the_sessions_access_tokens(
        self, gw: httpx.Client, owner: Account
    ) -> None:
        newer = gw.post("/auth/refresh", json={"refresh_token": owner.refresh_token}).json()
        gw.post("/auth/refresh", json={"refresh_token": owner.refresh_token})
        response = gw.get("/auth/me", headers={"Authorization": f"Bearer {newer['access_token']}"})
        refused(response, 401, "session_revoked")

    def test_reuse_leaves_other_sessions_alone(self, gw: httpx.Client, owner: Account) -> None:
        other = gw.post("/auth/login", json={"email": owner.email, "password": PASSWORD}).json()
        gw.post("/auth/refresh", json={"refresh_token": owner.refresh_token})
        gw.post("/auth/refresh", json={"refresh_token": owner.refresh_token})
        response = gw.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})
        assert response.status_code == 200, response.text

    @pytest.mark.parametrize("token", ["garbage", "rt_" + "x" * 43, "x" * 200])
    def test_an_unknown_refresh_token_is_401(self, gw: httpx.Client, token: str) -> None:
        response = gw.post("/auth/refresh", json={"refresh_token": token})
        refused(response, 401, "invalid_refresh_token")

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ({}, "parameter_missing"),
            ({"refresh_token": ""}, "parameter_invalid"),
            ({"refresh_token": 123}, "parameter_invalid"),
            ({"refresh_token": "x" * 201}, "parameter_invalid"),
        ],
    )
    def test_a_bad_refresh_token_value_is_400(
        self, gw: httpx.Client, body: dict[str, Any], code: str
    ) -> None:
        refused(gw.post("/auth/refresh", json=body), 400, code, "refresh_token")

    def test_an_unknown_field_is_refused(self, gw: httpx.Client, owner: Account) -> None:
        response = gw.post(
            "/auth/refresh", json={"refresh_token": owner.refresh_token, "scope": "admin"}
        )
        refused(response, 400, "parameter_unknown", "scope")
        # Refused before use: the token still works.
        assert gw.post("/auth/refresh", json={"refresh_token": owner.refresh_token}).is_success


class TestLogout:
    def test_logout_ends_the_access_token(self, gw: httpx.Client, owner: Account) -> None:
        assert gw.post("/auth/logout", headers=owner.headers).json()["revoked"] is True
        refused(gw.get("/auth/me", headers=owner.headers), 401, "session_revoked")

    def test_logout_ends_the_refresh_token(self, gw: httpx.Client, owner: Account) -> None:
        assert gw.post("/auth/logout", headers=owner.headers).status_code == 200
        response = gw.post("/auth/refresh", json={"refresh_token": owner.refresh_token})
        refused(response, 401, "invalid_refresh_token")

    def test_logout_leaves_other_sessions_alone(self, gw: httpx.Client, owner: Account) -> None:
        other = gw.post("/auth/login", json={"email": owner.email, "password": PASSWORD}).json()
        assert gw.post("/auth/logout", headers=owner.headers).status_code == 200
        response = gw.get("/auth/me", headers={"Authorization": f"Bearer {other['access_token']}"})
        assert response.status_code == 200

    def test_logout_without_a_credential_is_401(self, gw: httpx.Client) -> None:
        refused(gw.post("/auth/logout"), 401, "missing_credentials")

    def test_logout_with_an_api_key_is_403(self, gw: httpx.Client, owner: Account) -> None:
        secret = create_key(gw, owner)["secret"]
        refused(gw.post("/auth/logout", headers=key_headers(secret)), 403, "session_required")
        assert gw.get("/ledger/accounts", headers=key_headers(secret)).status_code == 200


class TestTenants:
    @pytest.mark.parametrize(
        ("changes", "code", "param"),
        [
            ({"name": None}, "parameter_invalid", "name"),
            ({"name": ""}, "parameter_invalid", "name"),
            ({"name": "n" * 201}, "parameter_invalid", "name"),
            pytest.param({"webhook_url": "not a url"}, "parameter_invalid", "webhook_url"),
            pytest.param({"webhook_url": 5}, "parameter_invalid", "webhook_url"),
            ({"rate_limit": 0}, "parameter_invalid", "rate_limit"),
            ({"rate_limit": "lots"}, "parameter_invalid", "rate_limit"),
            ({"status": "active"}, "parameter_unknown", "status"),
        ],
    )
    def test_a_refused_create_leaves_the_slug_free(
        self,
        gw: httpx.Client,
        admin: Account,
        changes: dict[str, Any],
        code: str,
        param: str,
    ) -> None:
        slug = f"bad-{secrets.token_hex(4)}"
        body = {"name": "Bad input", "slug": slug, **changes}
        refused(gw.post("/tenants", json=body, headers=admin.headers), 400, code, param)
        # Signing up to a slug is public: 404 says no tenant took it.
        signup = gw.post(
            "/auth/signup", json={"email": unique_email(), "password": PASSWORD, "tenant": slug}
        )
        assert signup.status_code == 404, signup.text

    def test_a_missing_name_is_named(self, gw: httpx.Client, admin: Account) -> None:
        response = gw.post("/tenants", json={"slug": "nameless"}, headers=admin.headers)
        refused(response, 400, "parameter_missing", "name")

    @pytest.mark.parametrize("slug", ["Upper", "with space", "-lead", "x" * 64, "émoji"])
    def test_a_bad_slug_is_refused(self, gw: httpx.Client, admin: Account, slug: str) -> None:
        response = gw.post("/tenants", json={"name": "Bad", "slug": slug}, headers=admin.headers)
        refused(response, 400, "parameter_invalid", "slug")

    def test_a_taken_slug_is_409(self, gw: httpx.Client, admin: Account, owner: Account) -> None:
        slug = tenant_slug(gw, owner)
        response = gw.post("/tenants", json={"name": "Copy", "slug": slug}, headers=admin.headers)
        refused(response, 409, "slug_taken", "slug")

    @pytest.mark.parametrize(
        ("changes", "code", "param"),
        [
            pytest.param({"webhook_url": "not a url"}, "parameter_invalid", "webhook_url"),
            ({"slug": "new-slug"}, "parameter_unknown", "slug"),
            ({"status": "disabled"}, "parameter_unknown", "status"),
            ({"rate_limit": -1}, "parameter_invalid", "rate_limit"),
        ],
    )
    def test_a_refused_update_changes_nothing(
        self,
        gw: httpx.Client,
        owner: Account,
        changes: dict[str, Any],
        code: str,
        param: str,
    ) -> None:
        path = f"/tenants/{owner.tenant_id}"
        before = gw.get(path, headers=owner.headers).json()
        response = gw.put(path, json={"name": "Renamed", **changes}, headers=owner.headers)
        refused(response, 400, code, param)
        assert gw.get(path, headers=owner.headers).json() == before

    def test_malformed_json_on_update_changes_nothing(
        self, gw: httpx.Client, owner: Account
    ) -> None:
        path = f"/tenants/{owner.tenant_id}"
        before = gw.get(path, headers=owner.headers).json()
        response = gw.put(
            path,
            content=b'{"name": "Renamed"',
            headers={**owner.headers, "Content-Type": "application/json"},
        )
        refused(response, 400, "invalid_json")
        assert gw.get(path, headers=owner.headers).json() == before

    @pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
    @pytest.mark.parametrize("tenant_id", [new_id("ten"), "nonsense"])
    def test_an_unknown_tenant_is_404(
        self, gw: httpx.Client, admin: Account, method: str, tenant_id: str
    ) -> None:
        body = {"name": "Ghost"} if method == "PUT" else None
        response = gw.request(method, f"/tenants/{tenant_id}", json=body, headers=admin.headers)
        refused(response, 404, "resource_missing", "id")

    def test_an_unknown_slug_is_404(self, gw: httpx.Client, admin: Account) -> None:
        response = gw.get("/tenants/slug/no-such-slug", headers=admin.headers)
        refused(response, 404, "resource_missing", "slug")

    @pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=many"])
    def test_a_bad_list_limit_is_400(self, gw: httpx.Client, admin: Account, query: str) -> None:
        response = gw.get(f"/tenants?{query}", headers=admin.headers)
        refused(response, 400, "parameter_invalid", "limit")


class TestUsers:
    @pytest.mark.parametrize(
        ("changes", "code", "param"),
        [
            ({"password": "short"}, "parameter_invalid", "password"),
            ({"password": 12345678}, "parameter_invalid", "password"),
            ({"password": "p" * 1025}, "parameter_invalid", "password"),
            ({"role": "PLATFORM_ADMIN"}, "parameter_invalid", "role"),
            ({"role": "owner"}, "parameter_invalid", "role"),
            ({"tenant_id": new_id("ten")}, "parameter_unknown", "tenant_id"),
        ],
    )
    def test_a_refused_create_leaves_the_email_free(
        self,
        gw: httpx.Client,
        owner: Account,
        changes: dict[str, Any],
        code: str,
        param: str,
    ) -> None:
        email = unique_email()
        body = {"email": email, "password": PASSWORD, **changes}
        refused(gw.post("/auth/users", json=body, headers=owner.headers), 400, code, param)
        assert email_is_free(gw, email)

    @pytest.mark.parametrize("field", ["email", "password"])
    def test_a_missing_field_is_named(self, gw: httpx.Client, owner: Account, field: str) -> None:
        body = {"email": unique_email(), "password": PASSWORD}
        del body[field]
        response = gw.post("/auth/users", json=body, headers=owner.headers)
        refused(response, 400, "parameter_missing", field)

    def test_a_taken_email_is_409(self, gw: httpx.Client, owner: Account) -> None:
        other = register(gw)
        body = {"email": other.email.title(), "password": PASSWORD}
        refused(gw.post("/auth/users", json=body, headers=owner.headers), 409, "email_taken")
        listed = gw.get("/auth/users", headers=owner.headers).json()["data"]
        assert [user["id"] for user in listed] == [owner.user_id]

    @pytest.mark.parametrize("user_id", [new_id("usr"), "nonsense"])
    def test_deactivating_an_unknown_user_is_404(
        self, gw: httpx.Client, owner: Account, user_id: str
    ) -> None:
        response = gw.delete(f"/auth/users/{user_id}", headers=owner.headers)
        refused(response, 404, "resource_missing", "id")

    def test_deactivating_twice_stays_deactivated(self, gw: httpx.Client, owner: Account) -> None:
        user = signup_user(gw, owner)
        assert gw.delete(f"/auth/users/{user.user_id}", headers=owner.headers).is_success
        again = gw.delete(f"/auth/users/{user.user_id}", headers=owner.headers)
        assert again.status_code == 200, again.text
        assert again.json()["is_active"] is False
        assert login_status(gw, user.email) == 401

    @pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x"])
    def test_a_bad_list_limit_is_400(self, gw: httpx.Client, owner: Account, query: str) -> None:
        response = gw.get(f"/auth/users?{query}", headers=owner.headers)
        refused(response, 400, "parameter_invalid", "limit")


def keys_of(client: httpx.Client, owner: Account) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = client.get("/auth/api_keys", headers=owner.headers).json()["data"]
    return data


class TestApiKeys:
    @pytest.mark.parametrize(
        ("body", "code", "param"),
        [
            ({"environment": "prod"}, "parameter_invalid", "environment"),
            ({"environment": 1}, "parameter_invalid", "environment"),
            ({"name": ""}, "parameter_invalid", "name"),
            ({"secret": "sk_test_mine"}, "parameter_unknown", "secret"),
            ({"tenant_id": new_id("ten")}, "parameter_unknown", "tenant_id"),
        ],
    )
    def test_a_refused_create_makes_no_key(
        self,
        gw: httpx.Client,
        owner: Account,
        body: dict[str, Any],
        code: str,
        param: str,
    ) -> None:
        response = gw.post("/auth/api_keys", json=body, headers=owner.headers)
        refused(response, 400, code, param)
        assert keys_of(gw, owner) == []

    def test_a_form_encoded_create_works(self, gw: httpx.Client, owner: Account) -> None:
        response = gw.post("/auth/api_keys", data={"environment": "live"}, headers=owner.headers)
        assert response.status_code == 201, response.text
        assert response.json()["secret"].startswith("sk_live_")

    @pytest.mark.parametrize("grace", [-1, 86_401, "soon", 1.5, None])
    def test_a_bad_grace_period_leaves_the_key_alone(
        self, gw: httpx.Client, owner: Account, grace: Any
    ) -> None:
        key = create_key(gw, owner)
        response = gw.post(
            f"/auth/api_keys/{key['id']}/roll",
            json={"grace_period_seconds": grace},
            headers=owner.headers,
        )
        refused(response, 400, "parameter_invalid", "grace_period_seconds")
        assert [(k["id"], k["status"], k["rolled_to"]) for k in keys_of(gw, owner)] == [
            (key["id"], "active", None)
        ]
        assert gw.get("/ledger/accounts", headers=key_headers(key["secret"])).status_code == 200

    def test_the_longest_grace_period_is_accepted(self, gw: httpx.Client, owner: Account) -> None:
        key = create_key(gw, owner)
        response = gw.post(
            f"/auth/api_keys/{key['id']}/roll",
            json={"grace_period_seconds": 86_400},
            headers=owner.headers,
        )
        assert response.status_code == 201, response.text
        assert gw.get("/ledger/accounts", headers=key_headers(key["secret"])).status_code == 200

    @pytest.mark.parametrize("key_id", [new_id("key"), "nonsense"])
    def test_revoking_an_unknown_key_is_404(
        self, gw: httpx.Client, owner: Account, key_id: str
    ) -> None:
        response = gw.delete(f"/auth/api_keys/{key_id}", headers=owner.headers)
        refused(response, 404, "resource_missing", "id")

    @pytest.mark.parametrize("key_id", [new_id("key"), "nonsense"])
    def test_rolling_an_unknown_key_is_404(
        self, gw: httpx.Client, owner: Account, key_id: str
    ) -> None:
        response = gw.post(f"/auth/api_keys/{key_id}/roll", json={}, headers=owner.headers)
        refused(response, 404, "resource_missing", "id")
        assert keys_of(gw, owner) == []

    def test_revoking_twice_is_409(self, gw: httpx.Client, owner: Account) -> None:
        key = create_key(gw, owner)
        assert gw.delete(f"/auth/api_keys/{key['id']}", headers=owner.headers).is_success
        again = gw.delete(f"/auth/api_keys/{key['id']}", headers=owner.headers)
        refused(again, 409, "api_key_revoked", "id")

    def test_a_revoked_key_cannot_be_rolled(self, gw: httpx.Client, owner: Account) -> None:
        key = create_key(gw, owner)
        assert gw.delete(f"/auth/api_keys/{key['id']}", headers=owner.headers).is_success
        response = gw.post(f"/auth/api_keys/{key['id']}/roll", json={}, headers=owner.headers)
        refused(response, 409, "api_key_revoked", "id")
        assert len(keys_of(gw, owner)) == 1

    @pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x"])
    def test_a_bad_list_limit_is_400(self, gw: httpx.Client, owner: Account, query: str) -> None:
        response = gw.get(f"/auth/api_keys?{query}", headers=owner.headers)
        refused(response, 400, "parameter_invalid", "limit")


class TestNulCharacters:
    def test_in_a_business_name_is_400_and_writes_nothing(self, gw: httpx.Client) -> None:
        email = unique_email()
        body = {"email": email, "password": PASSWORD, "business_name": "Acme\x00"}
        refused(gw.post("/auth/register", json=body), 400, "parameter_invalid", "business_name")
        assert email_is_free(gw, email)

    def test_in_a_signup_tenant_is_refused(self, gw: httpx.Client) -> None:
        body = {"email": unique_email(), "password": PASSWORD, "tenant": "acme\x00"}
        response = gw.post("/auth/signup", json=body)
        assert error(response)["param"] == "tenant"

    def test_in_a_tenant_name_is_400(self, gw: httpx.Client, owner: Account) -> None:
        path = f"/tenants/{owner.tenant_id}"
        before = gw.get(path, headers=owner.headers).json()
        response = gw.put(path, json={"name": "Acme\x00"}, headers=owner.headers)
        refused(response, 400, "parameter_invalid", "name")
        assert gw.get(path, headers=owner.headers).json() == before

    def test_in_a_key_name_is_400(self, gw: httpx.Client, owner: Account) -> None:
        response = gw.post("/auth/api_keys", json={"name": "ci\x00"}, headers=owner.headers)
        refused(response, 400, "parameter_invalid", "name")
        assert keys_of(gw, owner) == []

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("DELETE", "/auth/users/%00"),
            ("DELETE", "/auth/api_keys/%00"),
            ("POST", "/auth/api_keys/%00/roll"),
        ],
    )
    def test_in_an_id_is_400(
        self, gw: httpx.Client, owner: Account, method: str, path: str
    ) -> None:
        body: dict[str, Any] | None = {} if method == "POST" else None
        response = gw.request(method, path, json=body, headers=owner.headers)
        refused(response, 400, "parameter_invalid", None)

    @pytest.mark.parametrize("path", ["/tenants/%00", "/tenants/slug/%00"])
    def test_in_a_tenant_lookup_is_400(self, gw: httpx.Client, admin: Account, path: str) -> None:
        refused(gw.get(path, headers=admin.headers), 400, "parameter_invalid", None)

    def test_in_a_list_cursor_is_400(self, gw: httpx.Client, owner: Account) -> None:
        response = gw.get("/auth/users?starting_after=%00", headers=owner.headers)
        refused(response, 400, "parameter_invalid", None)

    def test_in_a_password_is_refused_like_anywhere_else(self, gw: httpx.Client) -> None:
        email = unique_email()
        password = f"{PASSWORD}\x00"
        response = gw.post("/auth/register", json={"email": email, "password": password})
        refused(response, 400, "parameter_invalid", "password")
        assert email_is_free(gw, email)


class TestMe:
    def test_me_is_the_signed_in_user(self, gw: httpx.Client, owner: Account) -> None:
        me = gw.get("/auth/me", headers=owner.headers).json()
        assert (me["id"], me["email"], me["role"]) == (owner.user_id, owner.email, "TENANT_ADMIN")
        assert "password_hash" not in me

    def test_the_seed_me_alias_answers_the_same(self, gw: httpx.Client, owner: Account) -> None:
        canonical = gw.get("/auth/me", headers=owner.headers).json()
        assert gw.get("/api/auth/me", headers=owner.headers).json() == canonical
