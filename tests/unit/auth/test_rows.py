"""Auth's rows and how the API shows them: created times in unix seconds, a key masked and
`expired` once a roll's grace has passed, a tenant's state for gateways."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.auth.repository.rows import ApiKeyRow, TenantRow, UserRow
from services.auth.schemas import Tenant, User
from services.auth.service.api_keys import shown
from shared.credentials import TenantState

CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
NOW = datetime.now(UTC)

KEY = ApiKeyRow(
    id="key_1",
    tenant_id="ten_1",
    livemode=False,
    secret_hash="0" * 64,
    last4="wxyz",
    name="checkout",
    created_by="usr_1",
    status="active",
    expires_at=None,
    rolled_to=None,
    rate_limit=None,
    created_at=CREATED,
    revoked_at=None,
)


def test_a_user_row_renders_as_the_api_user() -> None:
    user = UserRow(
        id="usr_1",
        tenant_id="ten_1",
        email="a@example.com",
        role="USER",
        is_active=True,
        created_at=CREATED,
    )
    assert User.model_validate(user).model_dump() == {
        "id": "usr_1",
        "object": "user",
        "email": "a@example.com",
        "tenant_id": "ten_1",
        "role": "USER",
        "is_active": True,
        "created": int(CREATED.timestamp()),
    }


def test_a_tenant_row_renders_as_the_api_tenant_and_gives_its_state() -> None:
    tenant = TenantRow(
        id="ten_1",
        name="Acme",
        slug="acme",
        webhook_url="",
        status="active",
        rate_limit=None,
        live_mode="on",
        created_at=CREATED,
    )
    assert Tenant.model_validate(tenant).created == int(CREATED.timestamp())
    assert tenant.state == TenantState(id="ten_1", status="active", live_mode="on")
    assert tenant.state.live


@pytest.mark.parametrize(
    ("livemode", "environment", "masked"),
    [(False, "test", "sk_test_...wxyz"), (True, "live", "sk_live_...wxyz")],
)
def test_a_key_is_shown_masked_with_its_environment(
    livemode: bool, environment: str, masked: str
) -> None:
    key = shown(replace(KEY, livemode=livemode))
    assert key.environment == environment
    assert key.livemode is livemode
    assert key.masked == masked
    assert key.secret is None
    assert key.created == int(CREATED.timestamp())


@pytest.mark.parametrize(
    ("status", "expires_at", "seen"),
    [
        ("active", None, "active"),
        ("active", NOW + timedelta(hours=1), "active"),
        ("active", NOW - timedelta(seconds=1), "expired"),
        ("revoked", None, "revoked"),
        ("revoked", NOW - timedelta(seconds=1), "revoked"),
    ],
)
def test_an_active_key_past_its_expiry_is_shown_expired(
    status: str, expires_at: datetime | None, seen: str
) -> None:
    key = replace(KEY, status=status, expires_at=expires_at)
    assert shown(key).status == seen
    assert key.is_expired() is (expires_at is not None and expires_at <= NOW)


def test_the_secret_and_the_last_use_are_shown_only_when_given() -> None:
    key = shown(KEY, last_used=1_700_000_000, secret="sk_test_secret")
    assert key.last_used == 1_700_000_000
    assert key.secret == "sk_test_secret"
    assert shown(KEY).last_used is None
