from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from services.auth.repository.rows import SigningKeyRow
from shared.db import Connection
from shared.rows import row_or_none

# Any fixed number: serialises the first start of several auth processes.
_LOCK_KEY = 0x6D6963726F6B6579  # "microkey"


async def lock(conn: Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)


async def newest(conn: Connection) -> SigningKeyRow | None:
    record = await conn.fetchrow(
        "SELECT kid, private_pem FROM signing_keys ORDER BY created_at DESC LIMIT 1"
    )
    return row_or_none(SigningKeyRow, record)


async def insert(
    conn: Connection, *, kid: str, private_pem: str, public_jwk: dict[str, Any]
) -> None:
    await conn.execute(
        "INSERT INTO signing_keys (kid, private_pem, public_jwk) VALUES ($1, $2, $3::jsonb) "
        "ON CONFLICT (kid) DO NOTHING",
        kid,
        private_pem,
        json.dumps(public_jwk),
    )


async def public_jwks(conn: Connection) -> Sequence[dict[str, Any]]:
    records = await conn.fetch(
        "SELECT public_jwk::text AS jwk FROM signing_keys ORDER BY created_at"
    )
    return [json.loads(record["jwk"]) for record in records]
