"""Bad input at the doors in: register, signup to a tenant, login; through the gateway.

Every refusal is the shared error shape with a 4xx, never a 500 (tests/support/refusals.py),
and a refused write leaves nothing behind that a caller could see: the email stays free.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from shared.ids import new_id
from tests.e2e.accounts import PASSWORD, Account, tenant_slug, unique_email
from tests.e2e.stack import RunningStack
from tests.support.refusals import email_is_free, error, login_status, refused

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024


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

    # Eight characters at the least, 1024 at the most.
    @pytest.mark.parametrize("length", [0, 1, 7, 1025, 10 * 1024])
    def test_a_password_too_short_or_too_long_is_refused(
        self, gw: httpx.Client, length: int
    ) -> None:
        email = unique_email()
        response = gw.post("/auth/register", json={"email": email, "password": "p" * length})
        refused(response, 400, "parameter_invalid", "password")
        assert email_is_free(gw, email)

    @pytest.mark.parametrize("length", [8, 1024])
    def test_a_password_of_either_bound_is_accepted(self, gw: httpx.Client, length: int) -> None:
        email = unique_email()
        password = "p" * length
        response = gw.post("/auth/register", json={"email": email, "password": password})
        assert response.status_code == 201, response.text
        assert login_status(gw, email, password) == 200

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

    @pytest.mark.parametrize(
        "tenant",
        ["no-such-tenant", new_id("ten"), "ten_nonsense"],
        ids=["no-such-tenant", "well-formed", "ten_nonsense"],
    )
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

    @pytest.mark.parametrize(
        ("right", "wrong"),
        [
            # bcrypt alone reads 72 bytes: these two would hash alike without Micro's pre-hash.
            pytest.param("a" * 80 + "X", "a" * 80 + "Y", id="all-of-a-password-past-72-bytes"),
            pytest.param(f"  {PASSWORD}  ", PASSWORD, id="spaces-around-a-password"),
        ],
    )
    def test_every_character_of_a_password_counts(
        self, gw: httpx.Client, right: str, wrong: str
    ) -> None:
        email = unique_email()
        assert gw.post("/auth/register", json={"email": email, "password": right}).is_success
        assert login_status(gw, email, wrong) == 401
        assert login_status(gw, email, right) == 200


class TestNulCharacters:
    """A NUL byte is refused like any other bad character, and nothing is written."""

    def test_in_a_business_name_is_400_and_writes_nothing(self, gw: httpx.Client) -> None:
        email = unique_email()
        body = {"email": email, "password": PASSWORD, "business_name": "Acme\x00"}
        refused(gw.post("/auth/register", json=body), 400, "parameter_invalid", "business_name")
        assert email_is_free(gw, email)

    def test_in_a_signup_tenant_is_refused(self, gw: httpx.Client) -> None:
        body = {"email": unique_email(), "password": PASSWORD, "tenant": "acme\x00"}
        response = gw.post("/auth/signup", json=body)
        assert error(response)["param"] == "tenant"

    def test_in_a_password_is_refused_like_anywhere_else(self, gw: httpx.Client) -> None:
        email = unique_email()
        password = f"{PASSWORD}\x00"
        response = gw.post("/auth/register", json={"email": email, "password": password})
        refused(response, 400, "parameter_invalid", "password")
        assert email_is_free(gw, email)
