"""Tenants' provider credentials (ciphertext only) and the inbound webhooks received."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.db import Connection
from shared.rows import row, row_or_none, rows


@dataclass(frozen=True, slots=True)
class CredentialsRow:
    """A tenant's account at a provider, its secrets as ciphertext."""

    tenant_id: str
    livemode: bool
    provider: str
    public_key: str | None
    secret_key: bytes
    webhook_secret: bytes | None
    # The secret key's last four characters, shown masked.
    secret_hint: str
    created_at: datetime
    updated_at: datetime


_CREDENTIAL_COLUMNS = (
    "tenant_id, livemode, provider, public_key, secret_key, webhook_secret, secret_hint, "
    "created_at, updated_at"
)


async def upsert_credentials(
    conn: Connection,
    *,
    tenant_id: str,
    livemode: bool,
    provider: str,
    public_key: str | None,
    secret_key: bytes,
    webhook_secret: bytes | None,
    secret_hint: str,
) -> CredentialsRow:
    record = await conn.fetchrow(
        "INSERT INTO provider_credentials (tenant_id, livemode, provider, public_key, "
        "secret_key, webhook_secret, secret_hint) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (tenant_id, livemode, provider) DO UPDATE SET "
        "public_key = EXCLUDED.public_key, secret_key = EXCLUDED.secret_key, "
        "webhook_secret = EXCLUDED.webhook_secret, secret_hint = EXCLUDED.secret_hint, "
        f"updated_at = now() RETURNING {_CREDENTIAL_COLUMNS}",
        tenant_id,
        livemode,
        provider,
        public_key,
        secret_key,
        webhook_secret,
        secret_hint,
    )
    assert record is not None
    return row(CredentialsRow, record)


async def get_credentials(
    conn: Connection, *, tenant_id: str, livemode: bool, provider: str
) -> CredentialsRow | None:
    record = await conn.fetchrow(
        f"SELECT {_CREDENTIAL_COLUMNS} FROM provider_credentials "
        "WHERE tenant_id = $1 AND livemode = $2 AND provider = $3",
        tenant_id,
        livemode,
        provider,
    )
    return row_or_none(CredentialsRow, record)


async def tenant_credentials(
    conn: Connection, *, tenant_id: str, provider: str
) -> list[CredentialsRow]:
    """Both modes' credentials of one tenant at one provider (for webhook verification)."""
    records = await conn.fetch(
        f"SELECT {_CREDENTIAL_COLUMNS} FROM provider_credentials "
        "WHERE tenant_id = $1 AND provider = $2 ORDER BY livemode",
        tenant_id,
        provider,
    )
    return rows(CredentialsRow, records)


async def delete_credentials(
    conn: Connection, *, tenant_id: str, livemode: bool, provider: str
) -> bool:
    status = await conn.execute(
        "DELETE FROM provider_credentials WHERE tenant_id = $1 AND livemode = $2 AND provider = $3",
        tenant_id,
        livemode,
        provider,
    )
    return bool(status.endswith(" 1"))


async def record_provider_event(
    conn: Connection,
    *,
    provider: str,
    account: str,
    event_id: str,
    event_type: str,
    reference: str | None,
    payload: str,
) -> bool:
    """Record a webhook once; False when it was already recorded (a replay)."""
    status = await conn.execute(
        "INSERT INTO provider_events (provider, account, event_id, event_type, reference, "
        "outcome, payload) VALUES ($1, $2, $3, $4, $5, 'received', $6::jsonb) "
        "ON CONFLICT DO NOTHING",
        provider,
        account,
        event_id,
        event_type,
        reference,
        payload,
    )
    return bool(status.endswith(" 1"))


async def set_event_outcome(
    conn: Connection, *, provider: str, account: str, event_id: str, outcome: str
) -> None:
    await conn.execute(
        "UPDATE provider_events SET outcome = $4 "
        "WHERE provider = $1 AND account = $2 AND event_id = $3",
        provider,
        account,
        event_id,
        outcome,
    )
