"""Auth rules. No SQL here (see repository.py) and no HTTP types."""

from __future__ import annotations

from services.auth import repository
from services.auth.errors import TenantNotFoundError, UserNotFoundError
from services.auth.schemas import Tenant, User
from shared.db import Connection
from shared.identity import Identity


async def get_me(conn: Connection, identity: Identity) -> User:
    # API keys and services act for a tenant, not as a user: they have no "me".
    if identity.principal_type != "user":
        raise UserNotFoundError(identity.principal)
    row = await repository.get_active_user(conn, user_id=identity.principal)
    if row is None:
        raise UserNotFoundError(identity.principal)
    return User.from_row(row)


async def get_tenant(conn: Connection, identity: Identity, tenant_id: str) -> Tenant:
    # 404 rather than 403 for other tenants, so probing ids tells a caller nothing.
    if not (identity.is_platform_admin or identity.tenant_id == tenant_id):
        raise TenantNotFoundError(tenant_id)
    row = await repository.get_tenant(conn, tenant_id=tenant_id)
    if row is None:
        raise TenantNotFoundError(tenant_id)
    return Tenant.from_row(row)
