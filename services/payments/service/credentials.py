"""A tenant's own provider accounts: stored encrypted, shown masked, never returned."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.payments.repository import providers as providers_repo
from services.payments.repository.providers import CredentialsRow
from services.payments.schemas import CredentialsRequest, HostedProvider, ProviderCredentials
from services.payments.service.provider_accounts import HOSTED, is_live_key
from shared.access import Operation, allows
from shared.db import Connection, Pool, transaction
from shared.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from shared.identity import Identity
from shared.timeutil import unix

if TYPE_CHECKING:
    from services.payments.state import PaymentsState

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
    payments: PaymentsState,
    identity: Identity,
    provider: HostedProvider,
    request: CredentialsRequest,
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
    cipher = payments.providers.cipher
    async with transaction(payments.pool) as conn:
        row = await providers_repo.upsert_credentials(
            conn,
            tenant_id=identity.tenant_scope,
            livemode=identity.livemode,
            provider=provider,
            public_key=request.public_key,
            secret_key=cipher.encrypt(request.secret_key),
            webhook_secret=(
                cipher.encrypt(request.webhook_secret) if request.webhook_secret else None
            ),
            secret_hint=request.secret_key[-4:],
        )
    return _render(row, provider, identity, payments.public_url)


async def get_credentials(
    payments: PaymentsState, identity: Identity, provider: HostedProvider
) -> ProviderCredentials:
    async with transaction(payments.pool) as conn:
        return await _shown(conn, payments, identity, provider)


async def list_credentials(
    payments: PaymentsState, identity: Identity
) -> list[ProviderCredentials]:
    check_admin(identity)
    async with transaction(payments.pool) as conn:
        return [
            await _shown(conn, payments, identity, name) for name in ("paystack", "flutterwave")
        ]


async def _shown(
    conn: Connection, payments: PaymentsState, identity: Identity, provider: HostedProvider
) -> ProviderCredentials:
    check_admin(identity)
    public_url = payments.public_url
    row = await providers_repo.get_credentials(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, provider=provider
    )
    if row is not None:
        return _render(row, provider, identity, public_url)
    platform = payments.providers.platform(provider, livemode=identity.livemode) is not None
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


async def delete_credentials(pool: Pool, identity: Identity, provider: HostedProvider) -> None:
    check_admin(identity)
    async with transaction(pool) as conn:
        deleted = await providers_repo.delete_credentials(
            conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, provider=provider
        )
    if not deleted:
        raise NotFoundError(f"No {provider} credentials are stored.", param="provider")


def _render(
    row: CredentialsRow, provider: HostedProvider, identity: Identity, public_url: str
) -> ProviderCredentials:
    return ProviderCredentials(
        provider=provider,
        source="tenant",
        public_key=row.public_key,
        secret_key=f"{_MASK}{row.secret_hint}",
        webhook_secret=_MASK if row.webhook_secret is not None else None,
        webhook_url=f"{public_url}/webhooks/{provider}/{identity.tenant_scope}",
        livemode=row.livemode,
        updated=unix(row.updated_at),
    )
