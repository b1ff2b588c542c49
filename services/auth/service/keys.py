"""API keys: created by a tenant's admins, shown once, stored hashed, rolled and revoked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from services.auth.errors import ApiKeyNotFoundError, ApiKeyUnusableError
from services.auth.keygen import generate_secret
from services.auth.repository import api_keys
from services.auth.revocation import Revocations
from services.auth.schemas import ApiKey, ApiKeyCreateRequest, ApiKeyRollRequest
from services.auth.service.access import require_internal, require_tenant_admin
from shared.access import Operation, allows
from shared.credentials import LAST_USED_HASH, VerifiedKey
from shared.db import Connection
from shared.errors import ConflictError, PermissionDeniedError
from shared.identity import Identity
from shared.ids import new_id
from shared.pagination import ListParams, page


async def create_key(conn: Connection, identity: Identity, request: ApiKeyCreateRequest) -> ApiKey:
    require_tenant_admin(identity)
    if request.rate_limit is not None and not allows(identity, Operation.SET_RATE_LIMITS):
        raise PermissionDeniedError(
            "Only platform admins set a key's rate limit.", code="role_required"
        )
    livemode = request.environment == "live"
    secret, secret_hash, last4 = generate_secret(livemode=livemode)
    row = await api_keys.insert(
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
    return ApiKey.from_row(row, secret=secret)


async def list_keys(
    conn: Connection, identity: Identity, redis: aioredis.Redis, *, params: ListParams
) -> tuple[list[ApiKey], bool]:
    require_tenant_admin(identity)
    rows = await api_keys.list_page(conn, tenant_id=identity.tenant_scope, params=params)
    shown, has_more = page(rows, params)
    last_used = await _last_used(redis, [row["id"] for row in shown])
    return [ApiKey.from_row(row, last_used=last_used.get(row["id"])) for row in shown], has_more


async def revoke_key(
    conn: Connection, identity: Identity, key_id: str
) -> tuple[ApiKey, Revocations]:
    require_tenant_admin(identity)
    row = await api_keys.get(conn, key_id=key_id, tenant_id=identity.tenant_scope)
    if row is None:
        raise ApiKeyNotFoundError(key_id)
    revoked = await api_keys.revoke(conn, key_id)
    if revoked is None:
        # Well formed, at odds with the key's state: a conflict, not a bad request.
        raise ConflictError(
            f"API key {key_id!r} is already revoked.", code="api_key_revoked", param="id"
        )
    return ApiKey.from_row(revoked), Revocations(
        key_hashes=[revoked["secret_hash"]], reason="api_key_revoked"
    )


async def roll_key(
    conn: Connection, identity: Identity, key_id: str, request: ApiKeyRollRequest
) -> tuple[ApiKey, Revocations]:
    """A new key with the same settings; the old one works for the grace period, then not."""
    require_tenant_admin(identity)
    old = await api_keys.lock(conn, key_id=key_id, tenant_id=identity.tenant_scope)
    if old is None:
        raise ApiKeyNotFoundError(key_id)
    now = datetime.now(UTC)
    if old["status"] != "active" or (old["expires_at"] is not None and old["expires_at"] <= now):
        raise ConflictError(
            f"API key {key_id!r} is no longer active and cannot be rolled.",
            code="api_key_revoked",
            param="id",
        )
    secret, secret_hash, last4 = generate_secret(livemode=old["livemode"])
    new = await api_keys.insert(
        conn,
        key_id=new_id("key"),
        tenant_id=old["tenant_id"],
        livemode=old["livemode"],
        secret_hash=secret_hash,
        last4=last4,
        name=old["name"],
        created_by=identity.principal,
        rate_limit=old["rate_limit"],
    )
    if request.grace_period_seconds == 0:
        await api_keys.revoke(conn, key_id)
        await api_keys.set_rolled(conn, key_id, rolled_to=new["id"], expires_at=now)
        revocations = Revocations(key_hashes=[old["secret_hash"]], reason="api_key_rolled")
    else:
        expires_at = now + timedelta(seconds=request.grace_period_seconds)
        await api_keys.set_rolled(conn, key_id, rolled_to=new["id"], expires_at=expires_at)
        # Gateways cached the key without an expiry: make them ask again.
        revocations = Revocations(changed_key_hashes=[old["secret_hash"]])
    return ApiKey.from_row(new, secret=secret), revocations


async def verify_key(conn: Connection, identity: Identity, secret_hash: str) -> VerifiedKey:
    """For the gateway only: what an active key acts as; why not, if it does not."""
    require_internal(identity)
    row = await api_keys.find_by_hash(conn, secret_hash)
    if row is None:
        raise ApiKeyNotFoundError("(by hash)")
    if row["status"] != "active":
        raise ApiKeyUnusableError("This API key has been revoked.", code="api_key_revoked")
    if row["expired"]:
        raise ApiKeyUnusableError(
            "This API key has expired (it was rolled).", code="api_key_expired"
        )
    if row["tenant_status"] != "active":
        raise ApiKeyUnusableError("This API key's tenant is disabled.", code="tenant_disabled")
    return VerifiedKey(
        id=row["id"],
        tenant_id=row["tenant_id"],
        livemode=row["livemode"],
        rate_limit=row["rate_limit"],
        expires_at=int(row["expires_at"].timestamp()) if row["expires_at"] else None,
    )


async def _last_used(redis: aioredis.Redis, key_ids: list[str]) -> dict[str, int]:
    if not key_ids:
        return {}
    try:
        values = await redis.hmget(LAST_USED_HASH, key_ids)
    except Exception:  # a missing last-used time is not worth failing the list over
        return {}
    return {k: int(v) for k, v in zip(key_ids, values, strict=True) if v is not None}
