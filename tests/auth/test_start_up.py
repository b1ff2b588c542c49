"""What auth does before its first request: its signing key (configured, or made once and
kept in the database) and the platform admin from settings."""

from __future__ import annotations

import asyncpg
import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import ServiceClient
from tests.support.auth import anonymous, register


async def published_kids(client: httpx.AsyncClient) -> list[str]:
    response = await client.get("/auth/.well-known/jwks.json", headers=anonymous())
    assert response.status_code == 200
    return [key["kid"] for key in response.json()["keys"]]


async def signed_with(client: httpx.AsyncClient) -> str:
    token = (await register(client))["access_token"]
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


async def test_a_key_made_once_is_kept_across_restarts(
    service_client: ServiceClient, auth_dsn: str
) -> None:
    async with service_client("auth", database_url=auth_dsn) as first:
        kids = await published_kids(first)
        assert len(kids) == 1
        assert await signed_with(first) == kids[0]
    async with service_client("auth", database_url=auth_dsn) as second:
        assert await published_kids(second) == kids
        assert await signed_with(second) == kids[0]


async def test_a_configured_key_signs_and_the_older_ones_stay_published(
    service_client: ServiceClient, auth_dsn: str
) -> None:
    async with service_client("auth", database_url=auth_dsn) as first:
        made = await published_kids(first)
    pem = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    async with service_client("auth", database_url=auth_dsn, jwt_private_key=pem) as second:
        kids = await published_kids(second)
        assert kids[0] == made[0]
        assert len(kids) == 2
        assert await signed_with(second) == kids[1]


async def test_the_platform_admin_is_made_once(
    service_client: ServiceClient, auth_dsn: str
) -> None:
    for _ in range(2):
        async with service_client("auth", database_url=auth_dsn) as client:
            assert client is not None
    conn = await asyncpg.connect(auth_dsn)
    try:
        admins = await conn.fetch("SELECT tenant_id FROM users WHERE role = 'PLATFORM_ADMIN'")
        platform = await conn.fetch("SELECT id FROM tenants WHERE slug = 'platform'")
    finally:
        await conn.close()
    assert len(admins) == 1
    assert [r["id"] for r in platform] == [admins[0]["tenant_id"]]
