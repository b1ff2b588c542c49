"""Tenants: platform admins manage all; a tenant admin reads and updates its own."""

from __future__ import annotations

import asyncpg

from services.auth.errors import SlugTakenError, TenantNotFoundError
from services.auth.repository import api_keys, sessions, tenants, users
from services.auth.revocation import Revocations
from services.auth.schemas import (
    LiveModeRequest,
    Tenant,
    TenantCreateRequest,
    TenantUpdateRequest,
)
from services.auth.service.access import (
    require_internal,
    require_platform_admin,
    require_tenant_access,
)
from services.auth.service.accounts import slugify
from shared import outbox
from shared.access import Operation, allows
from shared.credentials import TenantState
from shared.db import Connection
from shared.errors import InvalidRequestError, PermissionDeniedError
from shared.identity import Identity
from shared.ids import new_id
from shared.pagination import ListParams, page


async def list_tenants(
    conn: Connection, identity: Identity, *, params: ListParams
) -> tuple[list[Tenant], bool]:
    require_platform_admin(identity)
    shown, has_more = page(await tenants.list_page(conn, params), params)
    return [Tenant.from_row(row) for row in shown], has_more


async def create_tenant(
    conn: Connection, identity: Identity, request: TenantCreateRequest
) -> Tenant:
    require_platform_admin(identity)
    slug = request.slug or slugify(request.name)
    row = await tenants.insert(
        conn,
        tenant_id=new_id("ten"),
        name=request.name,
        slug=slug,
        webhook_url=str(request.webhook_url),
        rate_limit=request.rate_limit,
    )
    if row is None:
        raise SlugTakenError(slug)
    tenant = Tenant.from_row(row)
    await _announce(conn, identity, "tenant.created", tenant)
    return tenant


async def get_tenant(conn: Connection, identity: Identity, tenant_id: str) -> Tenant:
    require_tenant_access(identity, tenant_id)
    row = await tenants.get(conn, tenant_id)
    if row is None:
        raise TenantNotFoundError(tenant_id)
    return Tenant.from_row(row)


async def get_tenant_by_slug(conn: Connection, identity: Identity, slug: str) -> Tenant:
    row = await tenants.get_by_slug(conn, slug)
    if row is None:
        raise TenantNotFoundError(slug, param="slug")
    try:
        require_tenant_access(identity, row["id"])
    except TenantNotFoundError:
        raise TenantNotFoundError(slug, param="slug") from None
    return Tenant.from_row(row)


async def update_tenant(
    conn: Connection, identity: Identity, tenant_id: str, request: TenantUpdateRequest
) -> tuple[Tenant, Revocations]:
    require_tenant_access(identity, tenant_id)
    if request.rate_limit is not None and not allows(identity, Operation.SET_RATE_LIMITS):
        # A tenant raising its own limit would defeat the limit.
        raise PermissionDeniedError(
            "Only platform admins change a tenant's rate limit.", code="role_required"
        )
    row = await tenants.update(
        conn,
        tenant_id,
        name=request.name,
        webhook_url=None if request.webhook_url is None else str(request.webhook_url),
        rate_limit=request.rate_limit,
    )
    if row is None:
        raise TenantNotFoundError(tenant_id)
    changed = Revocations()
    if request.rate_limit is not None:
        # Gateways cache each key's limit: make them ask again.
        changed.changed_key_hashes = await api_keys.active_hashes_for_tenant(conn, tenant_id)
    tenant = Tenant.from_row(row)
    await _announce(conn, identity, "tenant.updated", tenant)
    return tenant, changed


async def request_live_mode(conn: Connection, identity: Identity, tenant_id: str) -> Tenant:
    """A tenant admin asks for live mode; asking again, or once it is on, changes nothing."""
    require_tenant_access(identity, tenant_id)
    row = await _lock_active(conn, tenant_id)
    if row["live_mode"] != "off":
        return Tenant.from_row(row)
    updated = await tenants.set_live_mode(conn, tenant_id, live_mode="requested")
    assert updated is not None
    tenant = Tenant.from_row(updated)
    await _announce(conn, identity, "tenant.updated", tenant)
    return tenant


async def set_live_mode(
    conn: Connection, identity: Identity, tenant_id: str, request: LiveModeRequest
) -> tuple[Tenant, Revocations]:
    """A platform admin turns a tenant's live mode on, or off (which also declines a
    request). Gateways learn it within a second, and close the tenant's live sockets."""
    require_platform_admin(identity)
    row = await _lock_active(conn, tenant_id)
    wanted = "on" if request.enabled else "off"
    if row["live_mode"] == wanted:
        return Tenant.from_row(row), Revocations()
    updated = await tenants.set_live_mode(conn, tenant_id, live_mode=wanted)
    assert updated is not None
    tenant = Tenant.from_row(updated)
    await _announce(conn, identity, "tenant.updated", tenant)
    return tenant, Revocations(changed_tenants=[_state(updated)], reason="live_mode_disabled")


async def _lock_active(conn: Connection, tenant_id: str) -> asyncpg.Record:
    row = await tenants.lock(conn, tenant_id)
    if row is None or row["status"] != "active":
        raise TenantNotFoundError(tenant_id)
    return row


async def tenant_state(conn: Connection, identity: Identity, tenant_id: str) -> TenantState:
    """For the gateway only: whether a tenant may act in live mode."""
    require_internal(identity)
    row = await tenants.get(conn, tenant_id)
    if row is None:
        raise TenantNotFoundError(tenant_id)
    return _state(row)


def _state(row: asyncpg.Record) -> TenantState:
    return TenantState(id=row["id"], status=row["status"], live_mode=row["live_mode"])


async def _announce(conn: Connection, identity: Identity, kind: str, tenant: Tenant) -> None:
    """An event in the tenant's own (test-mode) stream, in the same transaction as the
    change: the events service keeps the tenant's `webhook_url` as its default endpoint."""
    await outbox.emit(
        conn, identity, type=kind, data=tenant.model_dump(), tenant_id=tenant.id, livemode=False
    )


async def delete_tenant(
    conn: Connection, identity: Identity, tenant_id: str
) -> tuple[Tenant, Revocations]:
    """Disable the tenant, its users, their sessions and its keys (nothing is erased)."""
    require_platform_admin(identity)
    if tenant_id == identity.tenant_id:
        raise InvalidRequestError(
            "The platform tenant cannot be deleted.", code="tenant_protected", param="id"
        )
    row = await tenants.disable(conn, tenant_id)
    if row is None:
        raise TenantNotFoundError(tenant_id)
    await users.deactivate_tenant(conn, tenant_id)
    revoked_sessions = await sessions.revoke_for_tenant(conn, tenant_id, reason="tenant_deleted")
    revoked_keys = await api_keys.revoke_for_tenant(conn, tenant_id)
    return Tenant.from_row(row), Revocations(
        key_hashes=revoked_keys,
        session_ids=revoked_sessions,
        changed_tenants=[_state(row)],
        reason="tenant_disabled",
    )
