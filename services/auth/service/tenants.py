"""Tenants: platform admins manage all; a tenant admin reads and updates its own."""

from __future__ import annotations

import re
import secrets

from services.auth.errors import SlugTakenError, TenantNotFoundError
from services.auth.repository import api_keys as api_keys_repo
from services.auth.repository import sessions as sessions_repo
from services.auth.repository import tenants as tenants_repo
from services.auth.repository import users as users_repo
from services.auth.repository.rows import TenantRow
from services.auth.revocation import Revocations
from services.auth.schemas import (
    LiveModeRequest,
    Tenant,
    TenantCreateRequest,
    TenantFilters,
    TenantUpdateRequest,
)
from services.auth.service.access import (
    require_internal,
    require_platform_admin,
    require_tenant_access,
)
from services.auth.state import AuthState
from shared import outbox
from shared.access import Operation, allows
from shared.credentials import TenantState
from shared.db import Connection, transaction
from shared.errors import InvalidRequestError, PermissionDeniedError
from shared.identity import Identity
from shared.ids import new_id
from shared.pagination import page

# The tenant of the platform admins; its people come from settings only.
PLATFORM_SLUG = "platform"

_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
_SLUG_ATTEMPTS = 5


def slugify(name: str) -> str:
    return _SLUG_CHARS.sub("-", name.lower()).strip("-")[:40] or "tenant"


async def insert_with_free_slug(conn: Connection, *, name: str) -> TenantRow:
    """A new tenant named `name`, its slug made from the name (a random suffix if taken)."""
    base = slugify(name)
    slug = base
    for _ in range(_SLUG_ATTEMPTS):
        tenant = await tenants_repo.insert(
            conn, tenant_id=new_id("ten"), name=name, slug=slug, webhook_url=""
        )
        if tenant is not None:
            return tenant
        slug = f"{base}-{secrets.token_hex(3)}"
    raise RuntimeError("could not find a free tenant slug")


async def list_tenants(
    auth: AuthState, identity: Identity, *, params: TenantFilters
) -> tuple[list[Tenant], bool]:
    require_platform_admin(identity)
    async with transaction(auth.pool) as conn:
        found = await tenants_repo.list_page(conn, params, search=params.q)
    shown, has_more = page(found, params)
    return [Tenant.model_validate(tenant) for tenant in shown], has_more


async def create_tenant(
    auth: AuthState, identity: Identity, request: TenantCreateRequest
) -> Tenant:
    require_platform_admin(identity)
    slug = request.slug or slugify(request.name)
    async with transaction(auth.pool) as conn:
        created = await tenants_repo.insert(
            conn,
            tenant_id=new_id("ten"),
            name=request.name,
            slug=slug,
            webhook_url=str(request.webhook_url),
            rate_limit=request.rate_limit,
        )
        if created is None:
            raise SlugTakenError(slug)
        tenant = Tenant.model_validate(created)
        await _announce(conn, identity, "tenant.created", tenant)
    return tenant


async def get_tenant(auth: AuthState, identity: Identity, tenant_id: str) -> Tenant:
    require_tenant_access(identity, tenant_id)
    async with transaction(auth.pool) as conn:
        tenant = await tenants_repo.get(conn, tenant_id)
    if tenant is None:
        raise TenantNotFoundError(tenant_id)
    return Tenant.model_validate(tenant)


async def get_tenant_by_slug(auth: AuthState, identity: Identity, slug: str) -> Tenant:
    async with transaction(auth.pool) as conn:
        tenant = await tenants_repo.get_by_slug(conn, slug)
    if tenant is None:
        raise TenantNotFoundError(slug, param="slug")
    try:
        require_tenant_access(identity, tenant.id)
    except TenantNotFoundError:
        raise TenantNotFoundError(slug, param="slug") from None
    return Tenant.model_validate(tenant)


async def update_tenant(
    auth: AuthState, identity: Identity, tenant_id: str, request: TenantUpdateRequest
) -> Tenant:
    require_tenant_access(identity, tenant_id)
    if request.rate_limit is not None and not allows(identity, Operation.SET_RATE_LIMITS):
        # A tenant raising its own limit would defeat the limit.
        raise PermissionDeniedError(
            "Only platform admins change a tenant's rate limit.", code="role_required"
        )
    changed = Revocations()
    async with transaction(auth.pool) as conn:
        updated = await tenants_repo.update(
            conn,
            tenant_id,
            name=request.name,
            webhook_url=None if request.webhook_url is None else str(request.webhook_url),
            rate_limit=request.rate_limit,
        )
        if updated is None:
            raise TenantNotFoundError(tenant_id)
        if request.rate_limit is not None:
            # Gateways cache each key's limit: make them ask again.
            changed.changed_key_hashes = await api_keys_repo.active_hashes_for_tenant(
                conn, tenant_id
            )
        tenant = Tenant.model_validate(updated)
        await _announce(conn, identity, "tenant.updated", tenant)
    await changed.announce(auth.redis)
    return tenant


async def request_live_mode(auth: AuthState, identity: Identity, tenant_id: str) -> Tenant:
    """A tenant admin asks for live mode; asking again, or once it is on, changes nothing."""
    require_tenant_access(identity, tenant_id)
    async with transaction(auth.pool) as conn:
        current = await _lock_active(conn, tenant_id)
        if current.live_mode != "off":
            return Tenant.model_validate(current)
        updated = await tenants_repo.set_live_mode(conn, tenant_id, live_mode="requested")
        assert updated is not None
        tenant = Tenant.model_validate(updated)
        await _announce(conn, identity, "tenant.updated", tenant)
    return tenant


async def set_live_mode(
    auth: AuthState, identity: Identity, tenant_id: str, request: LiveModeRequest
) -> Tenant:
    """A platform admin turns a tenant's live mode on, or off (which also declines a
    request). Gateways learn it within a second, and close the tenant's live sockets."""
    require_platform_admin(identity)
    wanted = "on" if request.enabled else "off"
    async with transaction(auth.pool) as conn:
        current = await _lock_active(conn, tenant_id)
        if current.live_mode == wanted:
            return Tenant.model_validate(current)
        updated = await tenants_repo.set_live_mode(conn, tenant_id, live_mode=wanted)
        assert updated is not None
        tenant = Tenant.model_validate(updated)
        await _announce(conn, identity, "tenant.updated", tenant)
    await Revocations(changed_tenants=[updated.state], reason="live_mode_disabled").announce(
        auth.redis
    )
    return tenant


async def _lock_active(conn: Connection, tenant_id: str) -> TenantRow:
    tenant = await tenants_repo.lock(conn, tenant_id)
    if tenant is None or tenant.status != "active":
        raise TenantNotFoundError(tenant_id)
    return tenant


async def tenant_state(auth: AuthState, identity: Identity, tenant_id: str) -> TenantState:
    """For the gateway only: whether a tenant may act in live mode."""
    require_internal(identity)
    async with transaction(auth.pool) as conn:
        tenant = await tenants_repo.get(conn, tenant_id)
    if tenant is None:
        raise TenantNotFoundError(tenant_id)
    return tenant.state


async def _announce(conn: Connection, identity: Identity, kind: str, tenant: Tenant) -> None:
    """An event in the tenant's own (test-mode) stream, in the same transaction as the
    change: the events service keeps the tenant's `webhook_url` as its default endpoint."""
    await outbox.emit(
        conn, identity, type=kind, data=tenant.model_dump(), tenant_id=tenant.id, livemode=False
    )


async def delete_tenant(auth: AuthState, identity: Identity, tenant_id: str) -> Tenant:
    """Disable the tenant, its users, their sessions and its keys (nothing is erased)."""
    require_platform_admin(identity)
    if tenant_id == identity.tenant_id:
        raise InvalidRequestError(
            "The platform tenant cannot be deleted.", code="tenant_protected", param="id"
        )
    async with transaction(auth.pool) as conn:
        disabled = await tenants_repo.disable(conn, tenant_id)
        if disabled is None:
            raise TenantNotFoundError(tenant_id)
        await users_repo.deactivate_tenant(conn, tenant_id)
        revoked_sessions = await sessions_repo.revoke_for_tenant(
            conn, tenant_id, reason="tenant_deleted"
        )
        revoked_keys = await api_keys_repo.revoke_for_tenant(conn, tenant_id)
    await Revocations(
        key_hashes=revoked_keys,
        session_ids=revoked_sessions,
        changed_tenants=[disabled.state],
        reason="tenant_disabled",
    ).announce(auth.redis)
    return Tenant.model_validate(disabled)
