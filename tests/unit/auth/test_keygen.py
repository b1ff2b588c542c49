"""API key secrets: the prefix says the mode, 40 base62 characters follow, only the hash
is stored and only the last four are shown."""

from __future__ import annotations

import hashlib
import string

import pytest

from services.auth.keygen import generate_secret, masked
from shared.credentials import is_api_key_form


@pytest.mark.parametrize(("livemode", "prefix"), [(False, "sk_test_"), (True, "sk_live_")])
def test_a_secret_has_its_modes_prefix_and_40_base62_characters(
    livemode: bool, prefix: str
) -> None:
    secret, stored, last4 = generate_secret(livemode=livemode)
    assert secret.startswith(prefix)
    body = secret.removeprefix(prefix)
    assert len(body) == 40
    assert set(body) <= set(string.ascii_letters + string.digits)
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    assert last4 == secret[-4:]
    assert is_api_key_form(secret)


def test_two_secrets_differ() -> None:
    assert generate_secret(livemode=False)[0] != generate_secret(livemode=False)[0]


@pytest.mark.parametrize(
    ("livemode", "shown"), [(False, "sk_test_...abcd"), (True, "sk_live_...abcd")]
)
def test_a_key_is_shown_masked(livemode: bool, shown: str) -> None:
    assert masked(livemode=livemode, last4="abcd") == shown
