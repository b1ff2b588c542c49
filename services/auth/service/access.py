"""Who may do what in auth: the role rules every auth operation starts with (`shared/access.py`)."""

from __future__ import annotations

from services.auth.errors import TenantNotFoundError
from shared.access import Operation, allows, reaches_tenant, require_role, require_session
from shared.errors import PermissionDeniedError
from shared.identity import Identity


def require_user(identity: Identity) -> Identity:
    require_session(identity)
    return identity


def require_platform_admin(identity: Identity) -> Identity:
    require_role(identity, Operation.MANAGE_PLATFORM)
    return identity


def require_tenant_admin(identity: Identity) -> Identity:
    """Tenant admins manage their tenant; platform admins theirs (the platform tenant)."""
    require_role(identity, Operation.MANAGE_TENANT)
    return identity


def require_tenant_access(identity: Identity, tenant_id: str) -> None:
    """Platform admins reach any tenant; a tenant admin only its own. Other tenants are
    404 so that probing ids tells nothing; a USER of this tenant gets 403."""
    require_user(identity)
    if not reaches_tenant(identity, tenant_id):
        raise TenantNotFoundError(tenant_id)
    require_role(identity, Operation.MANAGE_TENANT)


def require_internal(identity: Identity) -> None:
    """What only the gateway asks, as a service."""
    if not allows(identity, Operation.CALL_INTERNAL):
        raise PermissionDeniedError("Internal endpoint.", code="internal_only")
