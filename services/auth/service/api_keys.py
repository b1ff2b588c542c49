"""API keys: created by a tenant's admins, shown once, stored hashed, rolled and revoked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from services.auth.errors import ApiKeyNotFoundError, ApiKeyUnusableError
from services.auth.keygen import generate_secret, masked
from services.auth.repository import api_keys as api_keys_repo
from services.auth.repository.rows import ApiKeyRow
from services.auth.revocation import Revocations
from services.auth.schemas import ApiKey, ApiKeyCreateRequest, ApiKeyRollRequest
from services.auth.service.access import require_internal, require_tenant_admin
from services.auth.state import AuthState
from shared.access import Operation, allows
from shared.credentials import LAST_USED_HASH, VerifiedKey
from shared.db import transaction
from shared.errors import ConflictError, PermissionDeniedError
from shared.identity import Identity
from shared.ids import new_id
from shared.pagination import ListParams, page
from shared.timeutil import unix


def shown(key: ApiKeyRow, *, last_used: int | None = None, secret: str | None = None) -> ApiKey:
    """A key as the API shows it: masked, and `expired` once a roll's grace has passed; the
    secret only in the answer that made it."""
    return ApiKey(
        id=key.id,
        environment="live" if key.livemode else "test",
        livemode=key.livemode,
        name=key.name,
        masked=masked(livemode=key.livemode, last4=key.last4),
        status="expired" if key.status == "active" and key.is_expired() else key.status,
        rate_limit=key.rate_limit,
        created=unix(key.created_at),
        last_used=last_used,
        expires_at=unix(key.expires_at) if key.expires_at else None,
        rolled_to=key.rolled_to,
        secret=secret,
    )


async def create_key(auth: AuthState, identity: Identity, request: ApiKeyCreateRequest) -> ApiKey:
    require_tenant_admin(identity)
    if request.rate_limit is not None and not allows(identity, Operation.SET_RATE_LIMITS):
        raise PermissionDeniedError(
            "Only platform admins set a key's rate limit.", code="role_required"
        )
    livemode = request.environment == "live"
    secret, secret_hash, last4 = generate_secret(livemode=livemode)
    async with transaction(auth.pool) as conn:
        key = await api_keys_repo.insert(
            conn,
            key_id=new_id("key"),
            tenant_id=identity.tenant_scope,
            livemode=livemode,
            secret_hash=secret_hash,
            last4=last4,
            name=request.name,
            created_by=identity.principal,
            rate_limit=request.rate_limit,
        )
    return shown(key, secret=secret)


async def list_keys(
    auth: AuthState, identity: Identity, *, params: ListParams
) -> tuple[list[ApiKey], bool]:
    require_tenant_admin(identity)
    async with transaction(auth.pool) as conn:
        found = await api_keys_repo.list_page(conn, tenant_id=identity.tenant_scope, params=params)
    keys, has_more = page(found, params)
    last_used = await _last_used(auth.redis, [key.id for key in keys])
    return [shown(key, last_used=last_used.get(key.id)) for key in keys], has_more


async def revoke_key(auth: AuthState, identity: Identity, key_id: str) -> ApiKey:
    require_tenant_admin(identity)
    async with transaction(auth.pool) as conn:
        if await api_keys_repo.get(conn, key_id=key_id, tenant_id=identity.tenant_scope) is None:
            raise ApiKeyNotFoundError(key_id)
        revoked = await api_keys_repo.revoke(conn, key_id)
        if revoked is None:
            # Well formed, at odds with the key's state: a conflict, not a bad request.
            raise ConflictError(
                f"API key {key_id!r} is already revoked.", code="api_key_revoked", param="id"
            )
    await Revocations(key_hashes=[revoked.secret_hash], reason="api_key_revoked").announce(
        auth.redis
    )
    return shown(revoked)


async def roll_key(
    auth: AuthState, identity: Identity, key_id: str, request: ApiKeyRollRequest
) -> ApiKey:
    """A new key with the same settings; the old one works for the grace period, then not."""
    require_tenant_admin(identity)
    async with transaction(auth.pool) as conn:
        old = await api_keys_repo.lock(conn, key_id=key_id, tenant_id=identity.tenant_scope)
        if old is None:
            raise ApiKeyNotFoundError(key_id)
        now = datetime.now(UTC)
        if old.status != "active" or old.is_expired(now):
            raise ConflictError(
                f"API key {key_id!r} is no longer active and cannot be rolled.",
                code="api_key_revoked",
                param="id",
            )
        secret, secret_hash, last4 = generate_secret(livemode=old.livemode)
        new = await api_keys_repo.insert(
            conn,
            key_id=new_id("key"),
            tenant_id=old.tenant_id,
            livemode=old.livemode,
            secret_hash=secret_hash,
            last4=last4,
            name=old.name,
            created_by=identity.principal,
            rate_limit=old.rate_limit,
        )
        if request.grace_period_seconds == 0:
            await api_keys_repo.revoke(conn, key_id)
            await api_keys_repo.set_rolled(conn, key_id, rolled_to=new.id, expires_at=now)
            revocations = Revocations(key_hashes=[old.secret_hash], reason="api_key_rolled")
        else:
            expires_at = now + timedelta(seconds=request.grace_period_seconds)
            await api_keys_repo.set_rolled(conn, key_id, rolled_to=new.id, expires_at=expires_at)
            # Gateways cached the key without an expiry: make them ask again.
            revocations = Revocations(changed_key_hashes=[old.secret_hash])
    await revocations.announce(auth.redis)
    return shown(new, secret=secret)


async def verify_key(auth: AuthState, identity: Identity, secret_hash: str) -> VerifiedKey:
    """For the gateway only: what an active key acts as; why not, if it does not."""
    require_internal(identity)
    async with transaction(auth.pool) as conn:
        key = await api_keys_repo.find_by_hash(conn, secret_hash)
    if key is None:
        raise ApiKeyNotFoundError("(by hash)")
    if key.status != "active":
        raise ApiKeyUnusableError("This API key has been revoked.", code="api_key_revoked")
    if key.expired:
        raise ApiKeyUnusableError(
            "This API key has expired (it was rolled).", code="api_key_expired"
        )
    if key.tenant_status != "active":
        raise ApiKeyUnusableError("This API key's tenant is disabled.", code="tenant_disabled")
    return VerifiedKey(
        id=key.id,
        tenant_id=key.tenant_id,
        livemode=key.livemode,
        rate_limit=key.rate_limit,
        expires_at=int(key.expires_at.timestamp()) if key.expires_at else None,
    )


async def _last_used(redis: aioredis.Redis, key_ids: list[str]) -> dict[str, int]:
    if not key_ids:
        return {}
    try:
        values = await redis.hmget(LAST_USED_HASH, key_ids)
    except Exception:  # a missing last-used time is not worth failing the list over
        return {}
    return {k: int(v) for k, v in zip(key_ids, values, strict=True) if v is not None}
