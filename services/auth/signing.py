"""The JWT signing key of this auth process, loaded (or created once) at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.auth.repository import signing_keys
from services.auth.service.accounts import Issuer, ensure_platform_admin
from services.auth.settings import AuthSettings
from services.auth.tokens import SigningKey, new_signing_key, signing_key_from_pem
from shared.db import Connection, transaction
from shared.state import AppState

ISSUER_KEY = "issuer"


async def load_signing_key(conn: Connection, settings: AuthSettings) -> SigningKey:
    if settings.jwt_private_key:
        key = signing_key_from_pem(settings.jwt_private_key)
        await signing_keys.insert(
            conn, kid=key.kid, private_pem=key.private_pem, public_jwk=key.public_jwk
        )
        return key
    await signing_keys.lock(conn)
    row = await signing_keys.newest(conn)
    if row is not None:
        return signing_key_from_pem(row["private_pem"])
    key = new_signing_key()
    await signing_keys.insert(
        conn, kid=key.kid, private_pem=key.private_pem, public_jwk=key.public_jwk
    )
    return key


@asynccontextmanager
async def auth_startup(state: AppState) -> AsyncIterator[None]:
    """Signing key and platform admin, before the first request."""
    settings = state.settings
    assert isinstance(settings, AuthSettings)
    async with transaction(state.db) as conn:
        key = await load_signing_key(conn, settings)
    async with transaction(state.db) as conn:
        await ensure_platform_admin(conn, settings)
    state.extras[ISSUER_KEY] = Issuer(key=key, settings=settings)
    yield


def issuer_of(state: AppState) -> Issuer:
    issuer = state.extras[ISSUER_KEY]
    assert isinstance(issuer, Issuer)
    return issuer
