"""Access tokens (Ed25519 JWTs) and refresh tokens (opaque, stored hashed)."""

from __future__ import annotations

import hashlib
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

from services.auth.tokens import (
    issue_access_token,
    new_refresh_token,
    new_signing_key,
    refresh_token_hash,
    signing_key_from_pem,
)
from shared.credentials import JWT_ALGORITHM, JWT_AUDIENCE, JWT_ISSUER


def test_a_key_read_back_from_its_pem_is_the_same_key() -> None:
    key = new_signing_key()
    again = signing_key_from_pem(key.private_pem)
    assert again.kid == key.kid
    assert again.public_jwk == key.public_jwk


def test_the_kid_is_the_public_keys_fingerprint() -> None:
    key = new_signing_key()
    assert key.kid == hashlib.sha256(key.public_jwk["x"].encode()).hexdigest()[:16]
    assert key.public_jwk | {"kty": "OKP", "crv": "Ed25519"} == key.public_jwk
    assert key.public_jwk["alg"] == JWT_ALGORITHM
    assert key.public_jwk["use"] == "sig"
    assert "d" not in key.public_jwk
    assert new_signing_key().kid != key.kid


def test_a_key_that_is_not_ed25519_is_refused() -> None:
    pem = (
        generate_private_key(SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(ValueError, match="Ed25519"):
        signing_key_from_pem(pem)


def test_an_access_token_verifies_with_the_published_key_and_says_who() -> None:
    key = new_signing_key()
    token = issue_access_token(
        key, user_id="usr_1", tenant_id="ten_1", role="USER", session_id="ses_1", ttl=60
    )
    assert jwt.get_unverified_header(token)["kid"] == key.kid
    public = jwt.PyJWK(key.public_jwk)
    claims = jwt.decode(
        token, public, algorithms=[JWT_ALGORITHM], audience=JWT_AUDIENCE, issuer=JWT_ISSUER
    )
    assert {k: claims[k] for k in ("sub", "tid", "role", "sid")} == {
        "sub": "usr_1",
        "tid": "ten_1",
        "role": "USER",
        "sid": "ses_1",
    }
    assert claims["exp"] - claims["iat"] == 60
    assert abs(claims["iat"] - time.time()) < 5


def test_a_token_signed_by_another_key_does_not_verify() -> None:
    token = issue_access_token(
        new_signing_key(), user_id="usr_1", tenant_id="ten_1", role="USER", session_id="s", ttl=60
    )
    other = jwt.PyJWK(new_signing_key().public_jwk)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other, algorithms=[JWT_ALGORITHM], audience=JWT_AUDIENCE)


def test_a_refresh_token_is_random_and_stored_as_its_sha256() -> None:
    token, stored = new_refresh_token()
    assert token.startswith("rt_")
    assert len(token) > 40
    assert stored == hashlib.sha256(token.encode()).hexdigest() == refresh_token_hash(token)
    assert new_refresh_token()[0] != token
