"""Revocations to announce once the database change that caused them has committed."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared.credentials import (
    INVALIDATE_CHANNEL,
    KEY_CACHE_PREFIX,
    REVOCATION_TTL_SECONDS,
    REVOKED_PREFIX,
)

log = logging.getLogger("micro.auth.revocation")


@dataclass(slots=True)
class Revocations:
    key_hashes: list[str] = field(default_factory=list)
    session_ids: list[str] = field(default_factory=list)
    # Keys whose cached facts changed (e.g. a roll set an expiry) without being revoked.
    changed_key_hashes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.key_hashes or self.session_ids or self.changed_key_hashes)

    async def announce(self, redis: aioredis.Redis) -> None:
        """Markers first (they are what gateways enforce), then cache evictions."""
        if not self:
            return
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for token in (*self.key_hashes, *self.session_ids):
                    pipe.set(f"{REVOKED_PREFIX}{token}", "1", ex=REVOCATION_TTL_SECONDS)
                for key_hash in (*self.key_hashes, *self.changed_key_hashes):
                    pipe.delete(f"{KEY_CACHE_PREFIX}{key_hash}")
                    pipe.publish(INVALIDATE_CHANNEL, key_hash)
                await pipe.execute()
        except (RedisError, OSError):
            # The database already says revoked; gateways re-ask auth when their caches
            # (at most KEY_CACHE_TTL_SECONDS) expire, so this only delays the effect.
            log.exception("could not announce revocations", extra={"count": len(self.key_hashes)})
