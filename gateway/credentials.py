"""Who is calling: API keys (`sk_test_`/`sk_live_`) and users' access tokens.

API keys: SHA-256 of the secret -> this process's cache -> Redis cache -> auth's internal
verify. Access tokens: EdDSA JWTs checked against auth's published keys (fetched once,
refetched when a token names a key we do not know). Revocation of either is enforced per
request in `gateway.ratelimit` through Redis markers.

Tenants: whether a tenant may act in live mode, cached the same way as keys (this process,
then Redis, then auth's internal answer) and evicted the same way (auth publishes the tenant
id once its change has committed), so a change reaches every gateway within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from typing import Any

import jwt
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.metrics import AUTH_FAILURES
from gateway.ratelimit import RedisGuard
from gateway.watchers import Watchers
from shared.credentials import (
    INVALIDATE_CHANNEL,
    JWT_ALGORITHM,
    JWT_AUDIENCE,
    JWT_ISSUER,
    KEY_CACHE_PREFIX,
    KEY_CACHE_TTL_SECONDS,
    REVOKED_CHANNEL,
    TENANT_CACHE_PREFIX,
    TENANT_CHANNEL,
    TEST_PREFIX,
    TenantState,
    VerifiedKey,
    is_api_key_form,
    secret_hash,
)
from shared.errors import AuthenticationError, PermissionDeniedError, UpstreamError
from shared.internal_client import Refused, Unavailable, Upstream
from shared.redis_url import connect as connect_redis

log = logging.getLogger("micro.gateway.credentials")

_LOCAL_CACHE_SIZE = 10_000
# Do not hammer auth for keys when a token names an unknown kid over and over.
_JWKS_REFRESH_SECONDS = 10.0


class LiveModeDisabledError(PermissionDeniedError):
    def __init__(self, tenant_id: str) -> None:
        super().__init__(
            f"Live mode is not enabled for tenant {tenant_id}: a tenant admin requests it with "
            f"POST /auth/tenants/{tenant_id}/live_mode/request, and a platform admin turns it "
            "on. Use test mode (sk_test_... keys, no Micro-Mode header) until then.",
            code="live_mode_disabled",
        )


class Credentials:
    def __init__(
        self,
        *,
        auth: Upstream,
        redis: aioredis.Redis,
        guard: RedisGuard,
        key_cache_seconds: float,
    ) -> None:
        self.auth = auth
        self.redis = redis
        self.guard = guard
        self.key_cache_seconds = key_cache_seconds
        self._keys: OrderedDict[str, tuple[VerifiedKey, float]] = OrderedDict()
        self._tenants: OrderedDict[str, tuple[TenantState, float]] = OrderedDict()
        # Counts tenant evictions: an answer fetched across one may be older than the news.
        self._tenant_evictions = 0
        # Re-checks of a changed tenant's open sockets, kept until they finish.
        self._rechecks: set[asyncio.Task[None]] = set()
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

    # -- tenants ----------------------------------------------------------------------------

    async def require_live_mode(self, tenant_id: str | None) -> None:
        """403 `live_mode_disabled` unless the tenant's live mode is on."""
        if tenant_id is None or not (await self.tenant(tenant_id)).live:
            AUTH_FAILURES.labels("live_mode_disabled").inc()
            raise LiveModeDisabledError(tenant_id or "(none)")

    async def tenant(self, tenant_id: str) -> TenantState:
        cached = self._tenants.get(tenant_id)
        if cached is not None and time.monotonic() - cached[1] < self.key_cache_seconds:
            return cached[0]
        evictions = self._tenant_evictions
        state = await self._shared_tenant(tenant_id) or await self._ask_auth_tenant(tenant_id)
        if evictions != self._tenant_evictions:
            return state  # used for this request, not kept
        self._tenants[tenant_id] = (state, time.monotonic())
        self._tenants.move_to_end(tenant_id)
        while len(self._tenants) > _LOCAL_CACHE_SIZE:
            self._tenants.popitem(last=False)
        return state

    async def _shared_tenant(self, tenant_id: str) -> TenantState | None:
        if not self.guard.available:
            self.guard.skipped("tenant_cache")
            return None
        try:
            raw = await self.redis.get(f"{TENANT_CACHE_PREFIX}{tenant_id}")
        except (RedisError, OSError, TimeoutError):
            self.guard.failed("tenant_cache")
            return None
        return TenantState.loads(raw) if raw else None

    async def _ask_auth_tenant(self, tenant_id: str) -> TenantState:
        status, body = await self._internal("GET", f"/internal/tenants/{tenant_id}", None)
        if status == 404:
            # Not a tenant auth knows: nothing of it may act, in any mode.
            return TenantState(id=tenant_id, status="disabled", live_mode="off")
        if status != 200:
            raise UpstreamError("The auth service could not check the tenant.", status=503)
        state = TenantState(**body)
        if self.guard.available:
            try:
                # NX: auth writes the new state when it changes; never put an older one back.
                await self.redis.set(
                    f"{TENANT_CACHE_PREFIX}{tenant_id}",
                    state.dumps(),
                    ex=KEY_CACHE_TTL_SECONDS,
                    nx=True,
                )
            except (RedisError, OSError, TimeoutError):
                self.guard.failed("tenant_cache")
        return state

    async def _recheck(self, tenant_id: str, watchers: Watchers) -> None:
        try:
            watchers.tenant_changed(await self.tenant(tenant_id))
        except UpstreamError:
            # Auth is down: the sockets stay; new live requests still ask auth (and fail).
            log.warning("could not re-check a changed tenant", extra={"tenant_id": tenant_id})

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
        """Auth's status and body: its 4xx answers (an unknown key, a disabled tenant) are
        business answers here, not failures."""
        try:
            answer = await self.auth.call(method, path, None, body=payload)
        except Refused as refused:
            return refused.upstream_status, refused.answer
        except Unavailable as exc:
            raise UpstreamError(
                f"The auth service is unavailable ({exc.detail}).", status=503
            ) from None
        return answer.status, answer.body

    async def listen_for_invalidations(
        self, redis_url: str, stop: asyncio.Event, watchers: Watchers
    ) -> None:
        """Evict keys and tenants auth announces, and end the sockets whose credential or
        tenant it says ended; on any gap in the subscription, forget every cached answer.

        `stop` ends the loop: redis-py's pub/sub read can swallow a task cancellation.
        """
        while not stop.is_set():
            client = connect_redis(redis_url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(INVALIDATE_CHANNEL, REVOKED_CHANNEL, TENANT_CHANNEL)
                    self._keys.clear()
                    self._forget_tenants()
                    while not stop.is_set():
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=0.5
                        )
                        if message and message["type"] == "message":
                            self._on_message(message["channel"], message["data"], watchers)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis went away: keep serving, try again shortly
                log.warning("key invalidation subscription lost; retrying", exc_info=True)
                self._keys.clear()
                self._forget_tenants()
                await asyncio.sleep(1)
            finally:
                await client.aclose()

    def _forget_tenants(self) -> None:
        self._tenants.clear()
        self._tenant_evictions += 1

    def _on_message(self, channel: bytes, data: bytes, watchers: Watchers) -> None:
        name = channel.decode()
        if name == INVALIDATE_CHANNEL:
            self.forget(data.decode())
        elif name == TENANT_CHANNEL:
            tenant_id = data.decode()
            self._tenants.pop(tenant_id, None)
            self._tenant_evictions += 1
            if watchers.watching(tenant_id):
                task = asyncio.create_task(self._recheck(tenant_id, watchers))
                self._rechecks.add(task)
                task.add_done_callback(self._rechecks.discard)
        elif name == REVOKED_CHANNEL:
            try:
                news = json.loads(data)
                watchers.revoked(str(news["token"]), str(news.get("reason") or "revoked"))
            except (ValueError, KeyError, TypeError):
                log.warning("unreadable revocation message", extra={"data": data[:200]})


def _masked(secret: str) -> str:
    prefix = secret[: len(TEST_PREFIX)]
    if len(secret) > len(TEST_PREFIX) + 4:
        return f"{prefix}...{secret[-4:]}"
    return f"{secret[:3]}***"


def _bad_token(message: str) -> AuthenticationError:
    AUTH_FAILURES.labels("invalid_token").inc()
    return AuthenticationError(message, code="invalid_token")
