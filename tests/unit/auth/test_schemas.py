"""The auth API's request rules: emails, passwords, slugs and the tenant alias."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from services.auth.schemas import (
    ApiKeyRollRequest,
    LoginRequest,
    RegisterRequest,
    SignupRequest,
    TenantCreateRequest,
    UserCreateRequest,
)


def test_an_email_is_trimmed_and_lowercased() -> None:
    body = RegisterRequest(email="  Dev@Example.COM ", password="12345678")
    assert body.email == "dev@example.com"


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("1234567", False),
        ("12345678", True),
        ("  1234  ", True),
        ("x" * 1024, True),
        ("x" * 1025, False),
    ],
)
def test_a_new_password_is_8_to_1024_characters_spaces_included(password: str, ok: bool) -> None:
    if ok:
        assert RegisterRequest(email="a@example.com", password=password).password == password
    else:
        with pytest.raises(ValidationError):
            RegisterRequest(email="a@example.com", password=password)


def test_a_login_password_of_any_length_is_accepted_as_sent() -> None:
    assert LoginRequest(email="a@example.com", password=" x ").password == " x "


@pytest.mark.parametrize(
    ("body", "tenant"),
    [
        ({"tenant": "acme"}, "acme"),
        ({"tenant_id": "ten_1"}, "ten_1"),
        ({"tenant": "ten_1", "tenant_id": "ten_1"}, "ten_1"),
    ],
)
def test_signup_takes_the_tenant_as_tenant_or_tenant_id(body: dict[str, Any], tenant: str) -> None:
    parsed = SignupRequest.model_validate(
        {"email": "a@example.com", "password": "12345678", **body}
    )
    assert parsed.tenant == tenant


def test_signup_refuses_two_different_tenants() -> None:
    with pytest.raises(ValidationError, match="send the tenant once"):
        SignupRequest.model_validate(
            {"email": "a@example.com", "password": "12345678", "tenant": "a", "tenant_id": "b"}
        )


@pytest.mark.parametrize(
    ("slug", "ok"),
    [
        ("acme", True),
        ("acme-2", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("-acme", False),
        ("Acme", False),
        ("ac me", False),
    ],
)
def test_a_slug_is_lowercase_letters_digits_and_dashes(slug: str, ok: bool) -> None:
    if ok:
        assert TenantCreateRequest(name="Acme", slug=slug).slug == slug
    else:
        with pytest.raises(ValidationError):
            TenantCreateRequest(name="Acme", slug=slug)


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (RegisterRequest, {"email": "a@example.com", "password": "12345678", "role": "x"}),
        (
            UserCreateRequest,
            {"email": "a@example.com", "password": "12345678", "role": "PLATFORM_ADMIN"},
        ),
        (ApiKeyRollRequest, {"grace_period_seconds": 86_401}),
        (TenantCreateRequest, {"name": "", "slug": "acme"}),
    ],
)
def test_what_the_api_does_not_take_is_refused(model: type[Any], body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(body)


@pytest.mark.parametrize("name", ["\n", "   ", "\t \r\n"])
def test_a_name_of_only_whitespace_is_refused_and_the_document_says_so(name: str) -> None:
    with pytest.raises(ValidationError):
        TenantCreateRequest(name=name)
    # What a client (schemathesis among them) reads: the schema refuses it too, so a
    # generated "valid" name is one the service takes.
    pattern = TenantCreateRequest.model_json_schema()["properties"]["name"]["pattern"]
    assert re.search(pattern, name) is None
    assert re.search(pattern, " Acme ") is not None
    assert TenantCreateRequest(name=" Acme ").name == "Acme"
