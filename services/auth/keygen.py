"""API key secrets: `sk_test_`/`sk_live_` + 40 base62 characters (238 bits of randomness)."""

from __future__ import annotations

import secrets
import string

from shared.credentials import LIVE_PREFIX, TEST_PREFIX, secret_hash

_ALPHABET = string.ascii_letters + string.digits
_LENGTH = 40


def generate_secret(*, livemode: bool) -> tuple[str, str, str]:
    """(secret shown once, SHA-256 to store, last four characters for display)."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))
    secret = (LIVE_PREFIX if livemode else TEST_PREFIX) + body
    return secret, secret_hash(secret), body[-4:]


def masked(*, livemode: bool, last4: str) -> str:
    return f"{LIVE_PREFIX if livemode else TEST_PREFIX}...{last4}"
