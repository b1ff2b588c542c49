"""Users of a tenant, managed by its admins."""

from __future__ import annotations

from services.auth.errors import EmailTakenError, UserNotFoundError
from services.auth.passwords import hash_password
from services.auth.repository import sessions, users
from services.auth.revocation import Revocations
from services.auth.schemas import User, UserCreateRequest
from services.auth.service.access import require_tenant_admin
from shared.db import Connection
from shared.errors import ConflictError
from shared.identity import Identity
from shared.ids import new_id
from shared.pagination import ListParams, page


async def list_users(
    conn: Connection, identity: Identity, *, params: ListParams
) -> tuple[list[User], bool]:
    require_tenant_admin(identity)
    rows = await users.list_page(conn, tenant_id=identity.tenant_scope, params=params)
    shown, has_more = page(rows, params)
    return [User.from_row(row) for row in shown], has_more


async def create_user(
    conn: Connection, identity: Identity, request: UserCreateRequest, *, bcrypt_rounds: int
) -> User:
    require_tenant_admin(identity)
    if await users.exists_with_email(conn, request.email):
        raise EmailTakenError()
    password_hash = await hash_password(request.password, rounds=bcrypt_rounds)
    row = await users.insert(
        conn,
        user_id=new_id("usr"),
        tenant_id=identity.tenant_scope,
        email=request.email,
        password_hash=password_hash,
        role=request.role,
    )
    if row is None:
        raise EmailTakenError()
    return User.from_row(row)


async def deactivate_user(
    conn: Connection, identity: Identity, user_id: str
) -> tuple[User, Revocations]:
    """The user can no longer sign in, and every session it has stops at once."""
    require_tenant_admin(identity)
    row = await users.get(conn, user_id)
    if row is None or row["tenant_id"] != identity.tenant_id:
        raise UserNotFoundError(user_id)
    if user_id == identity.principal:
        # The request is well formed; it conflicts with who sends it: 409, not 400.
        raise ConflictError(
            "You cannot deactivate yourself.", code="cannot_deactivate_self", param="id"
        )
    updated = await users.deactivate(conn, user_id)
    assert updated is not None
    revoked = await sessions.revoke_for_users(conn, [user_id], reason="user_deactivated")
    return User.from_row(updated), Revocations(session_ids=revoked, reason="user_deactivated")
