"""Rate limits in Redis: one atomic Lua call per request, exact across gateway processes.

A sliding-window log (a sorted set of admission times per bucket) admits at most `limit`
requests in any window, using Redis's clock so every gateway agrees. The same call checks
the credential's revocation marker and records an API key's last use, so a request costs
one Redis round trip in all.

When Redis cannot be reached the gateway fails open (requests are served, unlimited) for a
short cool-down, counts it in `micro_gateway_redis_unavailable_total`, and never waits on a
dead Redis for longer than its socket timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from gateway.metrics import REDIS_UNAVAILABLE
from shared.credentials import LAST_USED_HASH, REVOKED_PREFIX

_SCRIPT = """
if KEYS[2] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then
    return {-1, 0, 0}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < limit then
    redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[3])
    count = count + 1
    allowed = 1
end
redis.call('PEXPIRE', KEYS[1], window)
local reset = window
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then
    reset = tonumber(oldest[2]) + window - now
end
if allowed == 1 and ARGV[4] ~= '' then
    redis.call('HSET', KEYS[3], ARGV[4], t[1])
end
return {allowed, limit - count, reset}
"""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    revoked: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self, window_seconds: int) -> list[tuple[bytes, bytes]]:
        reset = str(self.reset_seconds).encode()
        limit = str(self.limit).encode()
        remaining = str(self.remaining).encode()
        headers = [
            (b"ratelimit-policy", b"%s;w=%d" % (limit, window_seconds)),
            (b"ratelimit", b"limit=%s, remaining=%s, reset=%s" % (limit, remaining, reset)),
            (b"x-ratelimit-limit", limit),
            (b"x-ratelimit-remaining", remaining),
            (b"x-ratelimit-reset", str(int(time.time()) + self.reset_seconds).encode()),
        ]
        if not self.allowed:
            headers.append((b"retry-after", reset))
        return headers


class RedisGuard:
    """Skips Redis for a moment after it failed, so an outage costs one timeout, not one each."""

    def __init__(self, cooldown: float = 1.0) -> None:
        self.cooldown = cooldown
        self._down_until = 0.0

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def failed(self, operation: str) -> None:
        self._down_until = time.monotonic() + self.cooldown
        REDIS_UNAVAILABLE.labels(operation).inc()

    def skipped(self, operation: str) -> None:
        REDIS_UNAVAILABLE.labels(operation).inc()


class RateLimiter:
    """Checks go to Redis in pipelines: every check made while the previous pipeline was in
    flight leaves together in the next one, so a busy gateway pays one round trip (and one
    client-library dispatch) for many requests, and an idle one waits no longer than before.
    """

    def __init__(self, redis: aioredis.Redis, guard: RedisGuard, *, window_seconds: int) -> None:
        self.window_seconds = window_seconds
        self.guard = guard
        self.redis = redis
        self._sha = hashlib.sha1(_SCRIPT.encode()).hexdigest()  # noqa: S324 - Redis's script id
        self._queue: list[tuple[list[str], list[str | int], asyncio.Future[list[int]]]] = []
        self._flushing = False

    async def hit(
        self,
        bucket: str,
        limit: int,
        *,
        revocation: str | None = None,
        last_used: str | None = None,
    ) -> Decision | None:
        """Admit or refuse one request; None when Redis is unavailable (fail open)."""
        if not self.guard.available:
            self.guard.skipped("rate_limit")
            return None
        keys = [
            f"micro:rl:{bucket}",
            f"{REVOKED_PREFIX}{revocation}" if revocation else "",
            LAST_USED_HASH,
        ]
        args: list[str | int] = [
            self.window_seconds * 1000,
            limit,
            secrets.token_hex(6),
            last_used or "",
        ]
        answer: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._queue.append((keys, args, answer))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        try:
            allowed, remaining, reset_ms = await answer
        except (RedisError, OSError, TimeoutError):
            self.guard.failed("rate_limit")
            return None
        if allowed == -1:
            return Decision(False, True, limit, 0, 0)
        return Decision(
            allowed=allowed == 1,
            revoked=False,
            limit=limit,
            remaining=max(int(remaining), 0),
            reset_seconds=max(1, -(-int(reset_ms) // 1000)),
        )

    async def revoked(self, revocation: str) -> Decision | None:
        """Only whether a credential was revoked, counting nothing: a refusal if it was,
        else None (as `hit` answers when Redis is unavailable: nothing to add or refuse)."""
        if not self.guard.available:
            self.guard.skipped("rate_limit")
            return None
        try:
            found = await self.redis.exists(f"{REVOKED_PREFIX}{revocation}")
        except (RedisError, OSError, TimeoutError):
            self.guard.failed("rate_limit")
            return None
        return Decision(False, True, limit=0, remaining=0, reset_seconds=0) if found else None

    async def _flush(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    results = await self._run(batch)
                except (RedisError, OSError, TimeoutError) as exc:
                    results = [exc] * len(batch)
                for (_, _, answer), result in zip(batch, results, strict=True):
                    if answer.done():
                        continue
                    if isinstance(result, BaseException):
                        answer.set_exception(result)
                    else:
                        answer.set_result(result)
        finally:
            self._flushing = False

    async def _run(
        self, batch: list[tuple[list[str], list[str | int], asyncio.Future[list[int]]]]
    ) -> list[Any]:
        for attempt in range(2):
            async with self.redis.pipeline(transaction=False) as pipe:
                for keys, args, _ in batch:
                    pipe.evalsha(self._sha, len(keys), *keys, *args)
                results: list[Any] = await pipe.execute(raise_on_error=False)
            if attempt == 0 and any(isinstance(r, NoScriptError) for r in results):
                # A restarted Redis forgot the script: load it once, then try again.
                await self.redis.script_load(_SCRIPT)
                continue
            return results
        return results
