"""Users of a tenant, managed by its admins; and the platform admin, made from settings."""

from __future__ import annotations

from services.auth.errors import EmailTakenError, UserNotFoundError
from services.auth.passwords import hash_password
from services.auth.repository import sessions as sessions_repo
from services.auth.repository import tenants as tenants_repo
from services.auth.repository import users as users_repo
from services.auth.repository.rows import UserRow
from services.auth.revocation import Revocations
from services.auth.schemas import User, UserCreateRequest, UserFilters
from services.auth.service.access import require_tenant_access, require_tenant_admin
from services.auth.service.tenants import PLATFORM_SLUG
from services.auth.settings import AuthSettings
from services.auth.state import AuthState
from shared.access import Role
from shared.db import Connection, Pool, transaction
from shared.errors import ConflictError
from shared.identity import Identity
from shared.ids import new_id
from shared.pagination import page


async def list_users(
    auth: AuthState, identity: Identity, *, params: UserFilters
) -> tuple[list[User], bool]:
    require_tenant_admin(identity)
    tenant_id = identity.tenant_scope
    if params.tenant_id is not None:
        # Platform admins reach any tenant; a tenant admin only its own (another is 404).
        require_tenant_access(identity, params.tenant_id)
        tenant_id = params.tenant_id
    async with transaction(auth.pool) as conn:
        found = await users_repo.list_page(conn, tenant_id=tenant_id, params=params)
    shown, has_more = page(found, params)
    return [User.model_validate(user) for user in shown], has_more


async def create_user(auth: AuthState, identity: Identity, request: UserCreateRequest) -> User:
    require_tenant_admin(identity)
    async with transaction(auth.pool) as conn:
        if await users_repo.exists_with_email(conn, request.email):
            raise EmailTakenError()
        password_hash = await hash_password(request.password, rounds=auth.settings.bcrypt_rounds)
        user = await insert_user(
            conn,
            tenant_id=identity.tenant_scope,
            email=request.email,
            password_hash=password_hash,
            role=request.role,
        )
    return User.model_validate(user)


async def deactivate_user(auth: AuthState, identity: Identity, user_id: str) -> User:
    """The user can no longer sign in, and every session it has stops at once."""
    require_tenant_admin(identity)
    async with transaction(auth.pool) as conn:
        user = await users_repo.get(conn, user_id)
        if user is None or user.tenant_id != identity.tenant_id:
            raise UserNotFoundError(user_id)
        if user_id == identity.principal:
            # The request is well formed; it conflicts with who sends it: 409, not 400.
            raise ConflictError(
                "You cannot deactivate yourself.", code="cannot_deactivate_self", param="id"
            )
        updated = await users_repo.deactivate(conn, user_id)
        assert updated is not None
        revoked = await sessions_repo.revoke_for_users(conn, [user_id], reason="user_deactivated")
    await Revocations(session_ids=revoked, reason="user_deactivated").announce(auth.redis)
    return User.model_validate(updated)


async def insert_user(
    conn: Connection, *, tenant_id: str, email: str, password_hash: str, role: str
) -> UserRow:
    user = await users_repo.insert(
        conn,
        user_id=new_id("usr"),
        tenant_id=tenant_id,
        email=email,
        password_hash=password_hash,
        role=role,
    )
    if user is None:  # taken between our check and the insert
        raise EmailTakenError()
    return user


async def ensure_platform_admin(pool: Pool, settings: AuthSettings) -> bool:
    """Create the configured platform admin (and the platform tenant) once; True if created."""
    email = settings.admin_email.strip().lower()
    async with transaction(pool) as conn:
        if await users_repo.exists_with_email(conn, email):
            return False
        # Insert-or-read, so two auth processes starting together agree on one tenant.
        tenant = await tenants_repo.insert(
            conn, tenant_id=new_id("ten"), name="Platform", slug=PLATFORM_SLUG, webhook_url=""
        ) or await tenants_repo.get_by_slug(conn, PLATFORM_SLUG)
        assert tenant is not None
        password_hash = await hash_password(settings.admin_password, rounds=settings.bcrypt_rounds)
        created = await users_repo.insert(
            conn,
            user_id=new_id("usr"),
            tenant_id=tenant.id,
            email=email,
            password_hash=password_hash,
            role=Role.PLATFORM_ADMIN,
        )
    return created is not None
