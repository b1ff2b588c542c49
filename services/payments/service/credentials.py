"""A tenant's own provider accounts: stored encrypted, shown masked, never returned."""

from __future__ import annotations

import asyncpg

from services.payments import repository
from services.payments.schemas import CredentialsRequest, HostedProvider, ProviderCredentials
from services.payments.service.accounts import HOSTED, ProviderSource, is_live_key
from shared.access import Operation, allows
from shared.db import Connection
from shared.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from shared.identity import Identity
from shared.timeutil import unix

_MASK = "••••"


def check_admin(identity: Identity) -> None:
    """Provider secrets are a tenant admin's (or the tenant's API keys') business."""
    if not identity.tenant_id or not allows(identity, Operation.MANAGE_PROVIDERS):
        raise PermissionDeniedError("Only the tenant's admins and API keys manage providers.")


def provider_name(value: str) -> HostedProvider:
    if value == "paystack":
        return "paystack"
    if value == "flutterwave":
        return "flutterwave"
    raise NotFoundError(
        f"No such provider: {value!r} (one of: {', '.join(HOSTED)}).", param="provider"
    )


async def put_credentials(
    conn: Connection,
    identity: Identity,
    provider: HostedProvider,
    request: CredentialsRequest,
    source: ProviderSource,
    *,
    public_url: str,
) -> ProviderCredentials:
    check_admin(identity)
    if identity.livemode and not is_live_key(provider, request.secret_key):
        # A provider's test key in live mode would take simulated money for real orders.
        raise InvalidRequestError(
            f"Live mode needs {provider}'s live secret key "
            f"({'sk_live_...' if provider == 'paystack' else 'FLWSECK-...'}); this is not one.",
            code="test_key_in_live_mode",
            param="secret_key",
        )
    row = await repository.upsert_credentials(
        conn,
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        provider=provider,
        public_key=request.public_key,
        secret_key=source.cipher.encrypt(request.secret_key),
        webhook_secret=(
            source.cipher.encrypt(request.webhook_secret) if request.webhook_secret else None
        ),
        secret_hint=request.secret_key[-4:],
    )
    return _render(row, provider, identity, public_url)


async def get_credentials(
    conn: Connection,
    identity: Identity,
    provider: HostedProvider,
    source: ProviderSource,
    *,
    public_url: str,
) -> ProviderCredentials:
    check_admin(identity)
    row = await repository.get_credentials(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, provider=provider
    )
    if row is not None:
        return _render(row, provider, identity, public_url)
    platform = source.platform(provider, livemode=identity.livemode) is not None
    return ProviderCredentials(
        provider=provider,
        source="platform" if platform else "none",
        public_key=None,
        secret_key=None,
        webhook_secret=None,
        webhook_url=f"{public_url}/webhooks/{provider}",
        livemode=identity.livemode,
        updated=None,
    )


async def list_credentials(
    conn: Connection, identity: Identity, source: ProviderSource, *, public_url: str
) -> list[ProviderCredentials]:
    return [
        await get_credentials(conn, identity, name, source, public_url=public_url)
        for name in ("paystack", "flutterwave")
    ]


async def delete_credentials(
    conn: Connection, identity: Identity, provider: HostedProvider
) -> None:
    check_admin(identity)
    deleted = await repository.delete_credentials(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, provider=provider
    )
    if not deleted:
        raise NotFoundError(f"No {provider} credentials are stored.", param="provider")


def _render(
    row: asyncpg.Record, provider: HostedProvider, identity: Identity, public_url: str
) -> ProviderCredentials:
    return ProviderCredentials(
        provider=provider,
        source="tenant",
        public_key=row["public_key"],
        secret_key=f"{_MASK}{row['secret_hint']}",
        webhook_secret=_MASK if row["webhook_secret"] is not None else None,
        webhook_url=f"{public_url}/webhooks/{provider}/{identity.tenant_scope}",
        livemode=row["livemode"],
        updated=unix(row["updated_at"]),
    )
