"""The key that signs access tokens: configured, or made once and kept in the database; and
the public keys of all of them, which verify the tokens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.auth.repository import signing_keys as signing_keys_repo
from services.auth.settings import AuthSettings
from services.auth.state import AuthState
from services.auth.tokens import SigningKey, new_signing_key, signing_key_from_pem
from shared.db import Pool, transaction


async def load_signing_key(pool: Pool, settings: AuthSettings) -> SigningKey:
    """The configured key (kept, so tokens it signed still verify after it changes), else
    the newest kept one, else a new one: made by whichever process starts first."""
    async with transaction(pool) as conn:
        if settings.jwt_private_key:
            key = signing_key_from_pem(settings.jwt_private_key)
            await signing_keys_repo.insert(
                conn, kid=key.kid, private_pem=key.private_pem, public_jwk=key.public_jwk
            )
            return key
        await signing_keys_repo.lock(conn)
        newest = await signing_keys_repo.newest(conn)
        if newest is not None:
            return signing_key_from_pem(newest.private_pem)
        key = new_signing_key()
        await signing_keys_repo.insert(
            conn, kid=key.kid, private_pem=key.private_pem, public_jwk=key.public_jwk
        )
        return key


async def public_jwks(auth: AuthState) -> Sequence[dict[str, Any]]:
    async with transaction(auth.pool) as conn:
        return await signing_keys_repo.public_jwks(conn)
