"""Accounts and sessions: register, signup, login, refresh, logout, me."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from services.auth.errors import (
    AccountDisabledError,
    EmailTakenError,
    InvalidCredentialsError,
    InvalidRefreshTokenError,
    TenantNotFoundError,
    UserNotFoundError,
)
from services.auth.passwords import burn_time, hash_password, verify_password
from services.auth.repository import sessions, tenants, users
from services.auth.revocation import Revocations
from services.auth.schemas import LoginResponse, RegisterResponse, Tenant, User
from services.auth.service.access import require_user
from services.auth.settings import AuthSettings
from services.auth.tokens import (
    SigningKey,
    issue_access_token,
    new_refresh_token,
    refresh_token_hash,
)
from shared.access import Role
from shared.db import Connection
from shared.errors import PermissionDeniedError
from shared.identity import Identity
from shared.ids import is_id, new_id

_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
_SLUG_ATTEMPTS = 5
PLATFORM_SLUG = "platform"


@dataclass(frozen=True, slots=True)
class Issuer:
    """What issuing a session needs: the signing key and the lifetimes."""

    key: SigningKey
    settings: AuthSettings


async def register(
    conn: Connection, issuer: Issuer, *, email: str, password: str, business_name: str | None
) -> RegisterResponse:
    """A new tenant and its TENANT_ADMIN, signed in."""
    if await users.exists_with_email(conn, email):
        raise EmailTakenError()
    password_hash = await hash_password(password, rounds=issuer.settings.bcrypt_rounds)
    name = business_name or email.split("@", 1)[0]
    tenant = await _insert_tenant_with_free_slug(conn, name=name)
    user = await _insert_user(
        conn,
        tenant_id=tenant["id"],
        email=email,
        password_hash=password_hash,
        role=Role.TENANT_ADMIN,
    )
    login = await _start_session(conn, issuer, user)
    return RegisterResponse(**login.model_dump(), tenant=Tenant.from_row(tenant))


async def signup(
    conn: Connection, issuer: Issuer, *, email: str, password: str, tenant_ref: str
) -> LoginResponse:
    """A USER of an existing, active tenant (named by slug or id), signed in."""
    if is_id(tenant_ref, "ten"):
        tenant = await tenants.get(conn, tenant_ref)
    else:
        tenant = await tenants.get_by_slug(conn, tenant_ref)
    # The platform tenant's people come from settings only, never from a public door.
    if tenant is None or tenant["status"] != "active" or tenant["slug"] == PLATFORM_SLUG:
        raise TenantNotFoundError(tenant_ref, param="tenant")
    if await users.exists_with_email(conn, email):
        raise EmailTakenError()
    password_hash = await hash_password(password, rounds=issuer.settings.bcrypt_rounds)
    user = await _insert_user(
        conn, tenant_id=tenant["id"], email=email, password_hash=password_hash, role=Role.USER
    )
    return await _start_session(conn, issuer, user)


async def login(
    conn: Connection, issuer: Issuer, *, email: str, password: str, platform: bool
) -> LoginResponse:
    """`platform`: the /auth/admin door, for platform admins only; /auth/login is the other."""
    row = await users.get_for_login(conn, email)
    if row is None:
        await burn_time(password)
        raise InvalidCredentialsError()
    if not await verify_password(password, row["password_hash"]):
        raise InvalidCredentialsError()
    # Only after the password matched, so disabled accounts cannot be discovered by guessing.
    if not row["is_active"] or row["tenant_status"] != "active":
        raise AccountDisabledError()
    is_platform_admin = row["role"] == Role.PLATFORM_ADMIN
    if platform and not is_platform_admin:
        raise PermissionDeniedError(
            "Only platform admins sign in here; use /auth/login.", code="not_platform_admin"
        )
    if not platform and is_platform_admin:
        raise PermissionDeniedError(
            "Platform admins sign in at /auth/admin.", code="use_admin_login"
        )
    return await _start_session(conn, issuer, row)


@dataclass(slots=True)
class RefreshOutcome:
    response: LoginResponse | None = None
    # A reused token: the session is revoked (commit this), then the caller is refused.
    refused: InvalidRefreshTokenError | None = None
    revocations: Revocations = field(default_factory=Revocations)


async def refresh(conn: Connection, issuer: Issuer, *, token: str) -> RefreshOutcome:
    row = await sessions.lock_refresh_token(conn, refresh_token_hash(token))
    if row is None:
        return RefreshOutcome(refused=InvalidRefreshTokenError())
    if row["used_at"] is not None:
        # Someone holds a copy of an old token: end the whole session for everyone.
        if await sessions.revoke(conn, row["session_id"], reason="refresh_token_reused"):
            revocations = Revocations(
                session_ids=[row["session_id"]], reason="refresh_token_reused"
            )
        else:
            revocations = Revocations()
        return RefreshOutcome(
            refused=InvalidRefreshTokenError(
                "refresh_token_reused",
                "This refresh token was already used; the session has been revoked. Sign in again.",
            ),
            revocations=revocations,
        )
    if (
        row["revoked_at"] is not None
        or row["expires_at"] <= datetime.now(UTC)
        or not row["is_active"]
        or row["tenant_status"] != "active"
    ):
        return RefreshOutcome(refused=InvalidRefreshTokenError())
    await sessions.mark_used(conn, row["token_hash"])
    refresh_token, token_hash = new_refresh_token()
    await sessions.insert_refresh_token(conn, token_hash=token_hash, session_id=row["session_id"])
    return RefreshOutcome(response=_login_response(issuer, row, row["session_id"], refresh_token))


async def logout(conn: Connection, identity: Identity) -> Revocations:
    require_user(identity)
    if identity.session_id and await sessions.revoke(conn, identity.session_id, reason="logout"):
        return Revocations(session_ids=[identity.session_id], reason="session_ended")
    return Revocations()


async def me(conn: Connection, identity: Identity) -> User:
    require_user(identity)
    row = await users.get(conn, identity.principal)
    if row is None or not row["is_active"]:
        raise UserNotFoundError(identity.principal)
    return User.from_row(row)


async def ensure_platform_admin(conn: Connection, settings: AuthSettings) -> bool:
    """Create the configured platform admin (and the platform tenant) once; True if created."""
    email = settings.admin_email.strip().lower()
    if await users.exists_with_email(conn, email):
        return False
    # Insert-or-read, so two auth processes starting together agree on one tenant.
    tenant = await tenants.insert(
        conn, tenant_id=new_id("ten"), name="Platform", slug=PLATFORM_SLUG, webhook_url=""
    ) or await tenants.get_by_slug(conn, PLATFORM_SLUG)
    assert tenant is not None
    password_hash = await hash_password(settings.admin_password, rounds=settings.bcrypt_rounds)
    created = await users.insert(
        conn,
        user_id=new_id("usr"),
        tenant_id=tenant["id"],
        email=email,
        password_hash=password_hash,
        role=Role.PLATFORM_ADMIN,
    )
    return created is not None


async def _start_session(conn: Connection, issuer: Issuer, user: asyncpg.Record) -> LoginResponse:
    session_id = new_id("ses")
    expires_at = datetime.now(UTC) + timedelta(seconds=issuer.settings.refresh_token_ttl)
    await sessions.insert(conn, session_id=session_id, user_id=user["id"], expires_at=expires_at)
    refresh_token, token_hash = new_refresh_token()
    await sessions.insert_refresh_token(conn, token_hash=token_hash, session_id=session_id)
    return _login_response(issuer, user, session_id, refresh_token)


def _login_response(
    issuer: Issuer, user: asyncpg.Record, session_id: str, refresh_token: str
) -> LoginResponse:
    ttl = issuer.settings.access_token_ttl
    access = issue_access_token(
        issuer.key,
        user_id=user["id"],
        tenant_id=user["tenant_id"],
        role=user["role"],
        session_id=session_id,
        ttl=ttl,
    )
    return LoginResponse(
        access_token=access,
        refresh_token=refresh_token,
        expires_in=ttl,
        user=User.from_row(user),
    )


def slugify(name: str) -> str:
    return _SLUG_CHARS.sub("-", name.lower()).strip("-")[:40] or "tenant"


async def _insert_tenant_with_free_slug(conn: Connection, *, name: str) -> asyncpg.Record:
    base = slugify(name)
    slug = base
    for _ in range(_SLUG_ATTEMPTS):
        row = await tenants.insert(
            conn, tenant_id=new_id("ten"), name=name, slug=slug, webhook_url=""
        )
        if row is not None:
            return row
        slug = f"{base}-{secrets.token_hex(3)}"
    raise RuntimeError("could not find a free tenant slug")


async def _insert_user(
    conn: Connection, *, tenant_id: str, email: str, password_hash: str, role: str
) -> asyncpg.Record:
    row = await users.insert(
        conn,
        user_id=new_id("usr"),
        tenant_id=tenant_id,
        email=email,
        password_hash=password_hash,
        role=role,
    )
    if row is None:  # taken between our check and the insert
        raise EmailTakenError()
    return row
