"""Signing in and sessions: register (a new tenant's admin), signup (a user of an existing
tenant), login at either door, refresh, logout, and the signed-in user (me)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.auth.errors import (
    AccountDisabledError,
    EmailTakenError,
    InvalidCredentialsError,
    InvalidRefreshTokenError,
    TenantNotFoundError,
    UserNotFoundError,
)
from services.auth.passwords import burn_time, hash_password, verify_password
from services.auth.repository import sessions as sessions_repo
from services.auth.repository import tenants as tenants_repo
from services.auth.repository import users as users_repo
from services.auth.repository.rows import LockedRefreshToken, UserRow
from services.auth.revocation import Revocations
from services.auth.schemas import LoginResponse, RegisterResponse, Tenant, User
from services.auth.service.access import require_user
from services.auth.service.tenants import PLATFORM_SLUG, insert_with_free_slug
from services.auth.service.users import insert_user
from services.auth.state import AuthState
from services.auth.tokens import issue_access_token, new_refresh_token, refresh_token_hash
from shared.access import Role
from shared.db import Connection, transaction
from shared.errors import PermissionDeniedError
from shared.identity import Identity
from shared.ids import is_id, new_id


async def register(
    auth: AuthState, *, email: str, password: str, business_name: str | None
) -> RegisterResponse:
    """A new tenant and its TENANT_ADMIN, signed in."""
    async with transaction(auth.pool) as conn:
        if await users_repo.exists_with_email(conn, email):
            raise EmailTakenError()
        password_hash = await hash_password(password, rounds=auth.settings.bcrypt_rounds)
        name = business_name or email.split("@", 1)[0]
        tenant = await insert_with_free_slug(conn, name=name)
        user = await insert_user(
            conn,
            tenant_id=tenant.id,
            email=email,
            password_hash=password_hash,
            role=Role.TENANT_ADMIN,
        )
        login = await _start_session(conn, auth, user)
    return RegisterResponse(**login.model_dump(), tenant=Tenant.model_validate(tenant))


async def signup(auth: AuthState, *, email: str, password: str, tenant_ref: str) -> LoginResponse:
    """A USER of an existing, active tenant (named by slug or id), signed in."""
    async with transaction(auth.pool) as conn:
        if is_id(tenant_ref, "ten"):
            tenant = await tenants_repo.get(conn, tenant_ref)
        else:
            tenant = await tenants_repo.get_by_slug(conn, tenant_ref)
        # The platform tenant's people come from settings only, never from a public door.
        if tenant is None or tenant.status != "active" or tenant.slug == PLATFORM_SLUG:
            raise TenantNotFoundError(tenant_ref, param="tenant")
        if await users_repo.exists_with_email(conn, email):
            raise EmailTakenError()
        password_hash = await hash_password(password, rounds=auth.settings.bcrypt_rounds)
        user = await insert_user(
            conn, tenant_id=tenant.id, email=email, password_hash=password_hash, role=Role.USER
        )
        return await _start_session(conn, auth, user)


async def login(auth: AuthState, *, email: str, password: str, platform: bool) -> LoginResponse:
    """`platform`: the /auth/admin door, for platform admins only; /auth/login is the other."""
    async with transaction(auth.pool) as conn:
        found = await users_repo.get_for_login(conn, email)
        if found is None:
            await burn_time(password)
            raise InvalidCredentialsError()
        if not await verify_password(password, found.password_hash):
            raise InvalidCredentialsError()
        user = found.user
        # Only after the password matched, so disabled accounts cannot be discovered by guessing.
        if not user.is_active or found.tenant_status != "active":
            raise AccountDisabledError()
        is_platform_admin = user.role == Role.PLATFORM_ADMIN
        if platform and not is_platform_admin:
            raise PermissionDeniedError(
                "Only platform admins sign in here; use /auth/login.", code="not_platform_admin"
            )
        if not platform and is_platform_admin:
            raise PermissionDeniedError(
                "Platform admins sign in at /auth/admin.", code="use_admin_login"
            )
        return await _start_session(conn, auth, user)


async def refresh(auth: AuthState, *, token: str) -> LoginResponse:
    """New tokens for a refresh token, which works once. A reused one ends its session for
    everyone: that is committed and announced, then the caller is refused."""
    async with transaction(auth.pool) as conn:
        outcome = await _refresh(conn, auth, token)
    await outcome.revocations.announce(auth.redis)
    if outcome.refused is not None:
        raise outcome.refused
    assert outcome.response is not None
    return outcome.response


@dataclass(slots=True)
class _RefreshOutcome:
    response: LoginResponse | None = None
    # A reused token: the session is revoked (commit this), then the caller is refused.
    refused: InvalidRefreshTokenError | None = None
    revocations: Revocations = field(default_factory=Revocations)


async def _refresh(conn: Connection, auth: AuthState, token: str) -> _RefreshOutcome:
    found = await sessions_repo.lock_refresh_token(conn, refresh_token_hash(token))
    if found is None:
        return _RefreshOutcome(refused=InvalidRefreshTokenError())
    if found.used_at is not None:
        # Someone holds a copy of an old token: end the whole session for everyone.
        if await sessions_repo.revoke(conn, found.session_id, reason="refresh_token_reused"):
            revocations = Revocations(session_ids=[found.session_id], reason="refresh_token_reused")
        else:
            revocations = Revocations()
        return _RefreshOutcome(
            refused=InvalidRefreshTokenError(
                "refresh_token_reused",
                "This refresh token was already used; the session has been revoked. Sign in again.",
            ),
            revocations=revocations,
        )
    if not _refreshable(found):
        return _RefreshOutcome(refused=InvalidRefreshTokenError())
    await sessions_repo.mark_used(conn, found.token_hash)
    refresh_token, token_hash = new_refresh_token()
    await sessions_repo.insert_refresh_token(
        conn, token_hash=token_hash, session_id=found.session_id
    )
    return _RefreshOutcome(
        response=_login_response(auth, found.user, found.session_id, refresh_token)
    )


def _refreshable(found: LockedRefreshToken) -> bool:
    return (
        found.session_revoked_at is None
        and found.session_expires_at > datetime.now(UTC)
        and found.user.is_active
        and found.tenant_status == "active"
    )


async def logout(auth: AuthState, identity: Identity) -> None:
    """The session ends: every gateway refuses its tokens within a second."""
    require_user(identity)
    revocations = Revocations()
    async with transaction(auth.pool) as conn:
        if identity.session_id and await sessions_repo.revoke(
            conn, identity.session_id, reason="logout"
        ):
            revocations = Revocations(session_ids=[identity.session_id], reason="session_ended")
    await revocations.announce(auth.redis)


async def me(auth: AuthState, identity: Identity) -> User:
    require_user(identity)
    async with transaction(auth.pool) as conn:
        user = await users_repo.get(conn, identity.principal)
    if user is None or not user.is_active:
        raise UserNotFoundError(identity.principal)
    return User.model_validate(user)


async def _start_session(conn: Connection, auth: AuthState, user: UserRow) -> LoginResponse:
    session_id = new_id("ses")
    expires_at = datetime.now(UTC) + timedelta(seconds=auth.settings.refresh_token_ttl)
    await sessions_repo.insert(conn, session_id=session_id, user_id=user.id, expires_at=expires_at)
    refresh_token, token_hash = new_refresh_token()
    await sessions_repo.insert_refresh_token(conn, token_hash=token_hash, session_id=session_id)
    return _login_response(auth, user, session_id, refresh_token)


def _login_response(
    auth: AuthState, user: UserRow, session_id: str, refresh_token: str
) -> LoginResponse:
    ttl = auth.settings.access_token_ttl
    access = issue_access_token(
        auth.signing_key,
        user_id=user.id,
        tenant_id=user.tenant_id,
        role=user.role,
        session_id=session_id,
        ttl=ttl,
    )
    return LoginResponse(
        access_token=access,
        refresh_token=refresh_token,
        expires_in=ttl,
        user=User.model_validate(user),
    )
