"""Who is calling: API keys (`sk_test_`/`sk_live_`) and users' access tokens.

API keys: SHA-256 of the secret -> this process's cache -> Redis cache -> auth's internal
verify. Access tokens: EdDSA JWTs checked against auth's published keys (fetched once,
refetched when a token names a key we do not know). Revocation of either is enforced per
request in `gateway.ratelimit` through Redis markers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from typing import Any

import aiohttp
import jwt
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.metrics import AUTH_FAILURES
from gateway.ratelimit import RedisGuard
from shared.credentials import (
    INVALIDATE_CHANNEL,
    JWT_ALGORITHM,
    JWT_AUDIENCE,
    JWT_ISSUER,
    KEY_CACHE_PREFIX,
    KEY_CACHE_TTL_SECONDS,
    TEST_PREFIX,
    VerifiedKey,
    is_api_key_form,
    secret_hash,
)
from shared.errors import AuthenticationError, UpstreamError
from shared.identity import Identity, mint

log = logging.getLogger("micro.gateway.credentials")

_LOCAL_CACHE_SIZE = 10_000
# Do not hammer auth for keys when a token names an unknown kid over and over.
_JWKS_REFRESH_SECONDS = 10.0


class Credentials:
    def __init__(
        self,
        *,
        auth_url: str,
        internal_secret: str,
        http: aiohttp.ClientSession,
        redis: aioredis.Redis,
        guard: RedisGuard,
        key_cache_seconds: float,
    ) -> None:
        self.auth_url = auth_url.rstrip("/")
        self.internal_secret = internal_secret
        self.http = http
        self.redis = redis
        self.guard = guard
        self.key_cache_seconds = key_cache_seconds
        self._keys: OrderedDict[str, tuple[VerifiedKey, float]] = OrderedDict()
        self._jwks: dict[str, Any] = {}
        self._jwks_fetched = 0.0
        self._jwks_lock = asyncio.Lock()

    # -- API keys ---------------------------------------------------------------------------

    async def api_key(self, secret: str) -> tuple[VerifiedKey, str]:
        """(the key, its SHA-256); raises 401 for an unknown, revoked or expired key."""
        if not is_api_key_form(secret):
            # `sk_your_key` from a copied example: no such key can exist, so auth is not asked.
            AUTH_FAILURES.labels("invalid_api_key").inc()
            raise AuthenticationError(
                f"Invalid API key provided: {_masked(secret)}.", code="invalid_api_key"
            )
        digest = secret_hash(secret)
        cached = self._keys.get(digest)
        now = time.monotonic()
        if cached is not None and now - cached[1] < self.key_cache_seconds:
            key = cached[0]
        else:
            key = await self._shared_cache(digest) or await self._ask_auth(digest, secret)
            self._remember(digest, key)
        if key.expires_at is not None and key.expires_at <= time.time():
            self.forget(digest)
            AUTH_FAILURES.labels("api_key_expired").inc()
            raise AuthenticationError(
                f"The API key {_masked(secret)} has expired (it was rolled).",
                code="api_key_expired",
            )
        return key, digest

    def forget(self, digest: str) -> None:
        self._keys.pop(digest, None)

    def _remember(self, digest: str, key: VerifiedKey) -> None:
        self._keys[digest] = (key, time.monotonic())
        self._keys.move_to_end(digest)
        while len(self._keys) > _LOCAL_CACHE_SIZE:
            self._keys.popitem(last=False)

    async def _shared_cache(self, digest: str) -> VerifiedKey | None:
        if not self.guard.available:
            self.guard.skipped("key_cache")
            return None
        try:
            raw = await self.redis.get(f"{KEY_CACHE_PREFIX}{digest}")
        except (RedisError, OSError, TimeoutError):
            self.guard.failed("key_cache")
            return None
        return VerifiedKey.loads(raw) if raw else None

    async def _ask_auth(self, digest: str, secret: str) -> VerifiedKey:
        status, body = await self._internal(
            "POST", "/internal/api_keys/verify", {"secret_hash": digest}
        )
        if status == 404:
            AUTH_FAILURES.labels("invalid_api_key").inc()
            raise AuthenticationError(
                f"Invalid API key provided: {_masked(secret)}.", code="invalid_api_key"
            )
        if status == 410:
            # Known to auth but unusable: say why (revoked, expired, tenant disabled).
            code = str(body["error"]["code"])
            AUTH_FAILURES.labels(code).inc()
            raise AuthenticationError(f"{body['error']['message']} ({_masked(secret)})", code=code)
        if status != 200:
            raise UpstreamError("The auth service could not check the API key.", status=503)
        key = VerifiedKey(**body)
        if self.guard.available:
            try:
                await self.redis.set(
                    f"{KEY_CACHE_PREFIX}{digest}", key.dumps(), ex=KEY_CACHE_TTL_SECONDS
                )
            except (RedisError, OSError, TimeoutError):
                self.guard.failed("key_cache")
        return key

    # -- access tokens ----------------------------------------------------------------------

    async def session(self, token: str) -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise _bad_token("The access token is malformed.") from None
        key = self._jwks.get(kid) if isinstance(kid, str) else None
        if key is None and isinstance(kid, str):
            await self._refresh_jwks()
            key = self._jwks.get(kid)
        if key is None:
            raise _bad_token("The access token was not signed by Micro.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[JWT_ALGORITHM],
                audience=JWT_AUDIENCE,
                issuer=JWT_ISSUER,
                options={"require": ["exp", "iat", "sub", "tid", "role", "sid"]},
            )
        except jwt.ExpiredSignatureError:
            AUTH_FAILURES.labels("token_expired").inc()
            raise AuthenticationError(
                "The access token has expired; refresh it at /auth/refresh.",
                code="token_expired",
            ) from None
        except jwt.PyJWTError:
            raise _bad_token("The access token is invalid.") from None
        return claims

    async def _refresh_jwks(self) -> None:
        async with self._jwks_lock:
            if time.monotonic() - self._jwks_fetched < _JWKS_REFRESH_SECONDS and self._jwks:
                return
            status, body = await self._internal("GET", "/auth/.well-known/jwks.json", None)
            if status != 200:
                raise UpstreamError("The auth service's signing keys are unavailable.", status=503)
            keys: dict[str, Any] = {}
            for jwk in body.get("keys", []):
                with contextlib.suppress(jwt.PyJWTError, KeyError, ValueError):
                    keys[jwk["kid"]] = jwt.PyJWK(jwk).key
            self._jwks = keys
            self._jwks_fetched = time.monotonic()

    # -- plumbing ---------------------------------------------------------------------------

    async def _internal(
        self, method: str, path: str, payload: dict[str, Any] | None
    ) -> tuple[int, Any]:
        token = mint(Identity(principal="gateway", principal_type="service"), self.internal_secret)
        try:
            async with self.http.request(
                method,
                f"{self.auth_url}{path}",
                json=payload,
                headers={"X-Micro-Identity": token},
            ) as response:
                return response.status, await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamError(
                f"The auth service is unavailable ({exc.__class__.__name__}).", status=503
            ) from None

    async def listen_for_invalidations(self, redis_url: str, stop: asyncio.Event) -> None:
        """Evict keys auth announces; on any gap in the subscription, forget them all.

        `stop` ends the loop: redis-py's pub/sub read can swallow a task cancellation.
        """
        while not stop.is_set():
            client = aioredis.Redis.from_url(redis_url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(INVALIDATE_CHANNEL)
                    self._keys.clear()
                    while not stop.is_set():
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=0.5
                        )
                        if message and message["type"] == "message":
                            self.forget(message["data"].decode())
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis went away: keep serving, try again shortly
                log.warning("key invalidation subscription lost; retrying", exc_info=True)
                self._keys.clear()
                await asyncio.sleep(1)
            finally:
                await client.aclose()


def _masked(secret: str) -> str:
    prefix = secret[: len(TEST_PREFIX)]
    if len(secret) > len(TEST_PREFIX) + 4:
        return f"{prefix}...{secret[-4:]}"
    return f"{secret[:3]}***"


def _bad_token(message: str) -> AuthenticationError:
    AUTH_FAILURES.labels("invalid_token").inc()
    return AuthenticationError(message, code="invalid_token")
