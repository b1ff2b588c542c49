"""Webhook endpoints."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams
from shared.rows import row, row_or_none, rows
from shared.scoped import ScopedTable
from shared.webhooks import Scheme

# Never the secrets (encrypted bytes, read only to sign deliveries); the previous secret's
# expiry only while it still signs.
COLUMNS = """
    id, tenant_id, livemode, url, description, enabled_events, status, disabled_reason,
    is_default, failing_since, created_at, signature, metadata::text AS metadata_json,
    api_version,
    CASE WHEN previous_secret_expires_at > now() THEN previous_secret_expires_at END
        AS previous_secret_expires_at
"""
_TABLE = ScopedTable("webhook_endpoints", COLUMNS)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A webhook endpoint as COLUMNS reads it: never its secrets."""

    id: str
    tenant_id: str
    livemode: bool
    url: str
    description: str | None
    enabled_events: list[str]
    status: Literal["enabled", "disabled"]
    disabled_reason: str | None
    is_default: bool
    failing_since: datetime | None
    created_at: datetime
    signature: Scheme
    # The metadata object's JSON text (jsonb read back as text: the pool decodes no JSON).
    metadata_json: str
    api_version: str | None
    # Only while the previous secret still signs (None otherwise).
    previous_secret_expires_at: datetime | None

    @property
    def metadata(self) -> dict[str, str]:
        found: dict[str, str] = json.loads(self.metadata_json)
        return found


@dataclass(frozen=True, slots=True)
class Listener:
    """An enabled endpoint, with what it listens to: what routing an event needs."""

    id: str
    tenant_id: str
    livemode: bool
    enabled_events: list[str]


@dataclass(frozen=True, slots=True)
class PlainSecret:
    """An endpoint whose secret is still plain text, from before encryption."""

    id: str
    plain_secret: str


def _returned(found: asyncpg.Record | None) -> Endpoint:
    """The row an UPDATE or INSERT ... RETURNING gave back (always one)."""
    assert found is not None
    return row(Endpoint, found)


async def insert(
    conn: Connection,
    *,
    endpoint_id: str,
    tenant_id: str,
    livemode: bool,
    url: str,
    description: str | None,
    enabled_events: list[str],
    disabled: bool,
    secret: bytes,
    signature: Scheme,
    metadata: dict[str, str],
    api_version: str | None,
    idempotency_key: str | None = None,
) -> Endpoint | None:
    """The new endpoint; None when one was made under this Idempotency-Key already."""
    found = await conn.fetchrow(
        f"""
        INSERT INTO webhook_endpoints (id, tenant_id, livemode, url, description,
            enabled_events, status, disabled_reason, secret, signature, metadata, api_version,
            idempotency_key)
        VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7 THEN 'disabled' ELSE 'enabled' END,
            CASE WHEN $7 THEN 'requested' END, $8, $9, $10::jsonb, $11, $12)
        ON CONFLICT (tenant_id, livemode, idempotency_key) WHERE idempotency_key IS NOT NULL
            DO NOTHING
        RETURNING {COLUMNS}
        """,
        endpoint_id,
        tenant_id,
        livemode,
        url,
        description,
        enabled_events,
        disabled,
        secret,
        signature,
        json.dumps(metadata),
        api_version,
        idempotency_key,
    )
    return None if found is None else _returned(found)


@dataclass(frozen=True, slots=True)
class Made:
    """An endpoint made under an Idempotency-Key, with its (encrypted) secret to show again."""

    endpoint: Endpoint
    secret: bytes


async def made_under_key(
    conn: Connection, *, tenant_id: str, livemode: bool, idempotency_key: str
) -> Made | None:
    found = await conn.fetchrow(
        f"SELECT {COLUMNS}, secret FROM webhook_endpoints"
        " WHERE tenant_id = $1 AND livemode = $2 AND idempotency_key = $3",
        tenant_id,
        livemode,
        idempotency_key,
    )
    if found is None:
        return None
    return Made(_returned(found), bytes(found["secret"]))


async def count(conn: Connection, *, tenant_id: str, livemode: bool) -> int:
    # Serialises creations per tenant and mode, so concurrent ones cannot pass the limit.
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{tenant_id}:{livemode}"
    )
    value: int = await conn.fetchval(
        "SELECT count(*) FROM webhook_endpoints WHERE tenant_id = $1 AND livemode = $2",
        tenant_id,
        livemode,
    )
    return value


async def list_page(
    conn: Connection, *, tenant_id: str, livemode: bool, params: ListParams
) -> list[Endpoint]:
    found = await _TABLE.page(conn, tenant_id=tenant_id, livemode=livemode, params=params)
    return rows(Endpoint, found)


async def get(
    conn: Connection, *, tenant_id: str, livemode: bool, endpoint_id: str, lock: bool = False
) -> Endpoint | None:
    found = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM webhook_endpoints "
        "WHERE id = $1 AND tenant_id = $2 AND livemode = $3" + (" FOR UPDATE" if lock else ""),
        endpoint_id,
        tenant_id,
        livemode,
    )
    return row_or_none(Endpoint, found)


async def update(
    conn: Connection,
    endpoint_id: str,
    *,
    url: str | None,
    description: str | None,
    enabled_events: list[str] | None,
    disabled: bool | None,
    signature: Scheme | None = None,
    metadata: dict[str, str] | None = None,
) -> Endpoint:
    """Change the given fields (`metadata`: the whole new object); enabling clears the
    failure history, disabling says why."""
    found = await conn.fetchrow(
        f"""
        UPDATE webhook_endpoints SET
            url = coalesce($2, url),
            description = coalesce($3, description),
            enabled_events = coalesce($4, enabled_events),
            status = CASE WHEN $5::boolean IS NULL THEN status
                          WHEN $5 THEN 'disabled' ELSE 'enabled' END,
            disabled_reason = CASE WHEN $5::boolean IS NULL THEN disabled_reason
                                   WHEN $5 THEN 'requested' END,
            failing_since = CASE WHEN $5 IS FALSE THEN NULL ELSE failing_since END,
            signature = coalesce($6, signature),
            metadata = coalesce($7::jsonb, metadata),
            updated_at = now()
        WHERE id = $1
        RETURNING {COLUMNS}
        """,
        endpoint_id,
        url,
        description,
        enabled_events,
        disabled,
        signature,
        None if metadata is None else json.dumps(metadata),
    )
    return _returned(found)


async def delete(conn: Connection, endpoint_id: str) -> None:
    await conn.execute("DELETE FROM webhook_endpoints WHERE id = $1", endpoint_id)


async def set_secret(
    conn: Connection, endpoint_id: str, secret: bytes, *, previous_for: int
) -> Endpoint:
    """A new (encrypted) secret; the one it replaces keeps signing `previous_for` seconds
    (0: it stops now, and any earlier previous one with it)."""
    found = await conn.fetchrow(
        f"""
        UPDATE webhook_endpoints SET
            previous_secret = CASE WHEN $3 > 0 THEN secret END,
            previous_secret_expires_at = CASE WHEN $3 > 0
                THEN now() + make_interval(secs => $3) END,
            secret = $2,
            updated_at = now()
        WHERE id = $1
        RETURNING {COLUMNS}
        """,
        endpoint_id,
        secret,
        previous_for,
    )
    return _returned(found)


async def plain_secrets(conn: Connection, *, limit: int) -> list[PlainSecret]:
    """Endpoints still holding a plain-text secret from before encryption (migration 0002),
    locked so two starting replicas do not both encrypt one."""
    found = await conn.fetch(
        "SELECT id, plain_secret FROM webhook_endpoints WHERE plain_secret IS NOT NULL "
        "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    return rows(PlainSecret, found)


async def store_encrypted(conn: Connection, encrypted: Sequence[tuple[str, bytes]]) -> None:
    await conn.execute(
        """
        UPDATE webhook_endpoints w SET secret = e.secret, plain_secret = NULL
        FROM unnest($1::text[], $2::bytea[]) AS e(id, secret)
        WHERE w.id = e.id
        """,
        [endpoint_id for endpoint_id, _ in encrypted],
        [secret for _, secret in encrypted],
    )


async def enabled_for(conn: Connection, scopes: Sequence[tuple[str, bool]]) -> list[Listener]:
    """The enabled endpoints of these (tenant, livemode) pairs, with what they listen to."""
    found = await conn.fetch(
        """
        SELECT w.id, w.tenant_id, w.livemode, w.enabled_events FROM webhook_endpoints w
        JOIN unnest($1::text[], $2::boolean[]) AS s(tenant_id, livemode)
          ON w.tenant_id = s.tenant_id AND w.livemode = s.livemode
        WHERE w.status = 'enabled'
        """,
        [tenant for tenant, _ in scopes],
        [live for _, live in scopes],
    )
    return rows(Listener, found)


async def upsert_default(
    conn: Connection, *, endpoint_id: str, tenant_id: str, livemode: bool, url: str, secret: bytes
) -> None:
    """The tenant's webhook_url as its default endpoint; its secret survives a URL change."""
    await conn.execute(
        """
        INSERT INTO webhook_endpoints (id, tenant_id, livemode, url, description,
            enabled_events, secret, is_default)
        VALUES ($1, $2, $3, $4, 'The tenant''s webhook_url', ARRAY['*'], $5, true)
        ON CONFLICT (tenant_id, livemode) WHERE is_default DO UPDATE SET
            url = excluded.url,
            status = CASE WHEN webhook_endpoints.url = excluded.url
                          THEN webhook_endpoints.status ELSE 'enabled' END,
            disabled_reason = CASE WHEN webhook_endpoints.url = excluded.url
                                   THEN webhook_endpoints.disabled_reason END,
            failing_since = CASE WHEN webhook_endpoints.url = excluded.url
                                 THEN webhook_endpoints.failing_since END,
            updated_at = now()
        """,
        endpoint_id,
        tenant_id,
        livemode,
        url,
        secret,
    )


async def delete_default(conn: Connection, *, tenant_id: str, livemode: bool) -> None:
    await conn.execute(
        "DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND livemode = $2 AND is_default",
        tenant_id,
        livemode,
    )


async def mark_failing(conn: Connection, endpoint_id: str) -> datetime | None:
    """Record a failure; since when the endpoint has failed without a success (None: gone)."""
    value: datetime | None = await conn.fetchval(
        "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, now()) "
        "WHERE id = $1 RETURNING failing_since",
        endpoint_id,
    )
    return value


async def clear_failing(conn: Connection, endpoint_id: str) -> None:
    # Only writes when there is something to clear: most deliveries succeed.
    await conn.execute(
        "UPDATE webhook_endpoints SET failing_since = NULL "
        "WHERE id = $1 AND failing_since IS NOT NULL",
        endpoint_id,
    )


async def clear_failing_many(conn: Connection, endpoint_ids: Sequence[str]) -> None:
    """`clear_failing` for many endpoints, in one statement."""
    await conn.execute(
        "UPDATE webhook_endpoints SET failing_since = NULL "
        "WHERE id = ANY($1::text[]) AND failing_since IS NOT NULL",
        list(endpoint_ids),
    )


async def disable(conn: Connection, endpoint_id: str, *, reason: str) -> Endpoint | None:
    """Disable an enabled endpoint; None if it already was (or is gone)."""
    found = await conn.fetchrow(
        f"""
        UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = $2,
            updated_at = now()
        WHERE id = $1 AND status = 'enabled'
        RETURNING {COLUMNS}
        """,
        endpoint_id,
        reason,
    )
    return row_or_none(Endpoint, found)
