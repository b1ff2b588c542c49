"""Who may do what: the role rules every auth operation starts with."""

from __future__ import annotations

from services.auth.errors import RoleRequiredError, SessionRequiredError, TenantNotFoundError
from shared.identity import Identity


def require_user(identity: Identity) -> Identity:
    if identity.principal_type != "user" or identity.tenant_id is None:
        raise SessionRequiredError()
    return identity


def require_platform_admin(identity: Identity) -> Identity:
    require_user(identity)
    if not identity.is_platform_admin:
        raise RoleRequiredError("PLATFORM_ADMIN")
    return identity


def require_tenant_admin(identity: Identity) -> Identity:
    """Tenant admins manage their tenant; platform admins theirs (the platform tenant)."""
    require_user(identity)
    if identity.role not in ("TENANT_ADMIN", "PLATFORM_ADMIN"):
        raise RoleRequiredError("TENANT_ADMIN")
    return identity


def require_tenant_access(identity: Identity, tenant_id: str) -> None:
    """Platform admins reach any tenant; a tenant admin only its own. Other tenants are
    404 so that probing ids tells nothing; a USER of this tenant gets 403."""
    require_user(identity)
    if identity.is_platform_admin:
        return
    if identity.tenant_id != tenant_id:
        raise TenantNotFoundError(tenant_id)
    if identity.role != "TENANT_ADMIN":
        raise RoleRequiredError("TENANT_ADMIN")
