"""Password hashing: every character counts (beyond bcrypt's 72 bytes too)."""

from __future__ import annotations

import pytest

from services.auth.passwords import hash_password, verify_password


async def test_the_right_password_verifies_and_a_wrong_one_does_not() -> None:
    hashed = await hash_password("correct horse", rounds=4)
    assert hashed.startswith("$2b$04$")
    assert await verify_password("correct horse", hashed)
    assert not await verify_password("correct horsf", hashed)


@pytest.mark.parametrize(
    ("password", "other"),
    [
        ("a" * 72 + "1", "a" * 72 + "2"),  # the same first 72 bytes
        ("secret\x00one", "secret\x00two"),  # bcrypt itself stops at a NUL byte
        (" padded ", "padded"),  # spaces at either end count
    ],
)
async def test_passwords_bcrypt_alone_would_confuse_are_told_apart(
    password: str, other: str
) -> None:
    hashed = await hash_password(password, rounds=4)
    assert await verify_password(password, hashed)
    assert not await verify_password(other, hashed)


async def test_the_same_password_hashes_differently_each_time() -> None:
    assert await hash_password("pw", rounds=4) != await hash_password("pw", rounds=4)
