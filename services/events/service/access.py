"""Who may read events and manage endpoints: API keys, tenant admins and platform admins;
the pipeline's backlog is a platform admin's."""

from __future__ import annotations

from shared.access import Operation, allows, reaches_tenant
from shared.errors import PermissionDeniedError
from shared.identity import Identity
from shared.scoped import Scope as Scope  # re-exported: events' reads take it


def scope_of(identity: Identity, *, tenant_id: str | None = None) -> Scope:
    """The tenant and mode a caller acts on. Platform admins may name another tenant; anyone
    else naming one is refused (403, where auth and wallet answer another tenant's ids 404)."""
    if not allows(identity, Operation.USE_EVENTS):
        raise PermissionDeniedError(
            "Events and webhook endpoints are for API keys and tenant admins.",
            code="role_required",
        )
    if tenant_id is None or tenant_id == identity.tenant_id:
        return Scope(identity.tenant_scope, identity.livemode)
    if not reaches_tenant(identity, tenant_id):
        raise PermissionDeniedError(
            "Only platform admins read another tenant's events.", code="role_required"
        )
    return Scope(tenant_id, identity.livemode)


def require_platform_admin(identity: Identity) -> None:
    """Every tenant's pipeline at once (`GET /events/backlog`): platform admins only."""
    if not allows(identity, Operation.MANAGE_PLATFORM):
        raise PermissionDeniedError(
            "The backlog of every tenant's events is a platform admin's.", code="role_required"
        )
