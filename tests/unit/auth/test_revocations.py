"""Revocations to announce: nothing to say is nothing sent."""

from __future__ import annotations

import pytest

from services.auth.revocation import Revocations
from shared.credentials import TenantState


def test_an_empty_revocation_is_false() -> None:
    assert not Revocations()
    assert not Revocations(reason="logout")


@pytest.mark.parametrize(
    "revocations",
    [
        Revocations(key_hashes=["h"]),
        Revocations(session_ids=["ses_1"]),
        Revocations(changed_key_hashes=["h"]),
        Revocations(changed_tenants=[TenantState(id="ten_1", status="active", live_mode="on")]),
    ],
)
def test_any_credential_or_tenant_makes_it_true(revocations: Revocations) -> None:
    assert revocations


async def test_an_empty_one_never_touches_redis() -> None:
    await Revocations().announce(None)  # type: ignore[arg-type]
