"""Who may read events and manage endpoints: API keys, tenant admins and platform admins."""

from __future__ import annotations

from shared.errors import PermissionDeniedError
from shared.identity import Identity
from shared.scoped import Scope as Scope  # re-exported: events' reads take it

_ADMINS = frozenset({"TENANT_ADMIN", "PLATFORM_ADMIN"})


def scope_of(identity: Identity, *, tenant_id: str | None = None) -> Scope:
    """The tenant and mode a caller acts on. Platform admins may name another tenant."""
    if identity.principal_type == "user" and identity.role not in _ADMINS:
        raise PermissionDeniedError(
            "Events and webhook endpoints are for API keys and tenant admins.",
            code="role_required",
        )
    if tenant_id is not None and tenant_id != identity.tenant_id:
        if not identity.is_platform_admin:
            raise PermissionDeniedError(
                "Only platform admins read another tenant's events.", code="role_required"
            )
        return Scope(tenant_id, identity.livemode)
    return Scope(identity.tenant_scope, identity.livemode)
