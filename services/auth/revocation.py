"""Revocations to announce once the database change that caused them has committed."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared.credentials import (
    INVALIDATE_CHANNEL,
    KEY_CACHE_PREFIX,
    KEY_CACHE_TTL_SECONDS,
    REVOCATION_TTL_SECONDS,
    REVOKED_CHANNEL,
    REVOKED_PREFIX,
    TENANT_CACHE_PREFIX,
    TENANT_CHANNEL,
    TenantState,
)

log = logging.getLogger("micro.auth.revocation")


@dataclass(slots=True)
class Revocations:
    key_hashes: list[str] = field(default_factory=list)
    session_ids: list[str] = field(default_factory=list)
    # Keys whose cached facts changed (e.g. a roll set an expiry) without being revoked.
    changed_key_hashes: list[str] = field(default_factory=list)
    # Tenants whose status or live mode changed, as they are now: gateways forget what they
    # cached.
    changed_tenants: list[TenantState] = field(default_factory=list)
    # Why, as the close reason of the sockets these credentials opened says it.
    reason: str = "revoked"

    def __bool__(self) -> bool:
        return bool(
            self.key_hashes or self.session_ids or self.changed_key_hashes or self.changed_tenants
        )

    async def announce(self, redis: aioredis.Redis) -> None:
        """Markers first (they are what gateways enforce), then cache evictions, then the
        news that closes open sockets."""
        if not self:
            return
        revoked = (*self.key_hashes, *self.session_ids)
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for token in revoked:
                    pipe.set(f"{REVOKED_PREFIX}{token}", "1", ex=REVOCATION_TTL_SECONDS)
                for key_hash in (*self.key_hashes, *self.changed_key_hashes):
                    pipe.delete(f"{KEY_CACHE_PREFIX}{key_hash}")
                    pipe.publish(INVALIDATE_CHANNEL, key_hash)
                for tenant in self.changed_tenants:
                    # Written, not deleted: a gateway that read the old state from the
                    # database just before the commit only fills a missing key (SET NX),
                    # so it cannot put the old state back.
                    pipe.set(
                        f"{TENANT_CACHE_PREFIX}{tenant.id}",
                        tenant.dumps(),
                        ex=KEY_CACHE_TTL_SECONDS,
                    )
                    pipe.publish(TENANT_CHANNEL, tenant.id)
                for token in revoked:
                    pipe.publish(
                        REVOKED_CHANNEL, json.dumps({"token": token, "reason": self.reason})
                    )
                await pipe.execute()
        except (RedisError, OSError):
            # The database already says revoked; gateways re-ask auth when their caches
            # (at most KEY_CACHE_TTL_SECONDS) expire, so this only delays the effect.
            log.exception("could not announce revocations", extra={"count": len(self.key_hashes)})
