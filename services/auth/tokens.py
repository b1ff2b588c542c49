"""Access tokens: short-lived JWTs signed with Ed25519; refresh tokens: opaque and hashed."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from shared.credentials import JWT_ALGORITHM, JWT_AUDIENCE, JWT_ISSUER


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey
    public_jwk: dict[str, Any]

    @property
    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()


def signing_key_from_pem(pem: str) -> SigningKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the JWT signing key must be an Ed25519 private key")
    jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
    # The kid is the key's own fingerprint: stable, and no registry of names to keep.
    kid = hashlib.sha256(jwk["x"].encode()).hexdigest()[:16]
    jwk.update({"kid": kid, "alg": JWT_ALGORITHM, "use": "sig"})
    return SigningKey(kid=kid, private_key=key, public_jwk=jwk)


def new_signing_key() -> SigningKey:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return signing_key_from_pem(pem)


def issue_access_token(
    key: SigningKey,
    *,
    user_id: str,
    tenant_id: str,
    role: str,
    session_id: str,
    ttl: int,
) -> str:
    now = int(time.time())
    claims = {
        "iss": JWT_ISSUER,
        "aud": JWT_AUDIENCE,
        "sub": user_id,
        "tid": tenant_id,
        "role": role,
        "sid": session_id,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, key.private_key, algorithm=JWT_ALGORITHM, headers={"kid": key.kid})


def new_refresh_token() -> tuple[str, str]:
    """(token for the client, hash to store)."""
    token = "rt_" + secrets.token_urlsafe(32)
    return token, refresh_token_hash(token)


def refresh_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
