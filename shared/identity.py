"""The internal identity token (`X-Micro-Identity`; "A request" in
docs/architecture.md, "Three paths").

The gateway authenticates the caller once and hands each service a short-lived token,
HMAC-signed with the identity key (MICRO_IDENTITY_KEYS, `shared/secrets.py`), saying who is
calling: tenant, livemode, principal, role and request id. Services trust nothing else:
without a valid token a request gets 401 (except the probes and the spec).

The keys are a list so the key can be rotated without downtime: tokens are signed with the
first and accepted under any. Put the new key in front everywhere (the old one still
verifies), then remove the old one once no app signs with it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import jwt
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.access import Role
from shared.errors import AuthenticationError
from shared.responses import error_response
from shared.v1 import Dialect

HEADER = "x-micro-identity"
_AUDIENCE = "micro-internal"
_ALGORITHM = "HS256"
# Long enough for a slow upstream hop, short enough that a leaked token is soon useless.
TOKEN_TTL_SECONDS = 60
_SCOPE_KEY = "micro.identity"

PUBLIC_PATHS = frozenset({"/health", "/ready", "/metrics", "/openapi.json"})

PrincipalType = Literal["user", "api_key", "service", "anonymous"]


@dataclass(frozen=True, slots=True)
class Identity:
    principal: str
    principal_type: PrincipalType
    tenant_id: str | None = None
    livemode: bool = False
    role: Role | None = None
    request_id: str | None = None
    # The session (refresh-token family) a user's access token belongs to.
    session_id: str | None = None
    # `stripe` when the request came in on a `/v1` path (shared/v1.py).
    dialect: Dialect = "micro"

    @property
    def tenant_scope(self) -> str:
        """The tenant whose rows this caller sees; no tenant means none rather than all."""
        return self.tenant_id or ""


def mint(identity: Identity, key: str, *, ttl: int = TOKEN_TTL_SECONDS) -> str:
    """A token signed with `key`: the first of the identity keys (`settings.identity_key`)."""
    now = int(time.time())
    claims: dict[str, Any] = {**asdict(identity), "aud": _AUDIENCE, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, key, algorithm=_ALGORITHM)


def verify(token: str, keys: Sequence[str]) -> Identity:
    """The identity in a token signed with any of `keys`."""
    if isinstance(keys, str):
        # A str is a Sequence[str] too: one character per "key" would verify nothing.
        raise TypeError("verify takes the list of identity keys, not one key")
    return _verified(token, keys)[0]


def _verified(token: str, keys: Sequence[str]) -> tuple[Identity, float]:
    """The identity in a token and the time (epoch seconds) it expires at."""
    claims = _decode(token, keys)
    try:
        role = claims.get("role")
        identity = Identity(
            principal=claims["principal"],
            principal_type=claims["principal_type"],
            tenant_id=claims.get("tenant_id"),
            livemode=bool(claims.get("livemode", False)),
            role=None if role is None else Role(role),
            request_id=claims.get("request_id"),
            session_id=claims.get("session_id"),
            dialect="stripe" if claims.get("dialect") == "stripe" else "micro",
        )
        return identity, float(claims["exp"])
    except (KeyError, ValueError):
        raise AuthenticationError(
            "The internal identity token is incomplete.", code="identity_invalid"
        ) from None


def _decode(token: str, keys: Sequence[str]) -> dict[str, Any]:
    for key in keys:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                audience=_AUDIENCE,
                options={"require": ["exp", "iat", "aud"]},
            )
            return claims
        except jwt.InvalidSignatureError:
            continue  # signed with another key, or with none of ours
        except jwt.ExpiredSignatureError:
            raise AuthenticationError(
                "The internal identity token has expired.", code="identity_expired"
            ) from None
        except jwt.PyJWTError:
            break
    raise AuthenticationError("The internal identity token is invalid.", code="identity_invalid")


def identity_of(conn: HTTPConnection) -> Identity:
    identity = conn.scope.get(_SCOPE_KEY)
    if not isinstance(identity, Identity):
        raise AuthenticationError("No verified identity on this request.")
    return identity


class InternalIdentityMiddleware:
    """Refuses every request that lacks a valid identity token, except the public paths.

    A token verified once is remembered until it expires: the gateway reuses a caller's
    token (`TokenCache`), and checking its signature again took ~15% of the ledger's CPU
    per posting (profiled, #19). The very same token string is what is remembered, so a
    changed byte is verified afresh; the keys are fixed for the middleware's life."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: Sequence[str],
        public_paths: frozenset[str] = PUBLIC_PATHS,
        cache_size: int = 10_000,
    ) -> None:
        if isinstance(keys, str):
            raise TypeError("the middleware takes the list of identity keys, not one key")
        self.app = app
        # A copy: a token remembered as verified must stay verifiable by these very keys.
        self.keys = tuple(keys)
        self.public_paths = public_paths
        self.cache_size = cache_size
        self._verified: dict[str, tuple[Identity, float]] = {}

    def verify(self, token: str) -> Identity:
        """`verify`, remembered: the same token string answers without its signature being
        checked again, until it expires (then it is checked, and refused, afresh)."""
        cached = self._verified.get(token)
        if cached is not None and time.time() < cached[1]:
            return cached[0]
        identity, expires = _verified(token, self.keys)
        if len(self._verified) >= self.cache_size:
            self._verified.clear()  # bounded; tokens are reused for 30 s, so it refills at once
        self._verified[token] = (identity, expires)
        return identity

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in self.public_paths:
            await self.app(scope, receive, send)
            return
        token = _header(scope, HEADER.encode())
        if token is None:
            await error_response(
                AuthenticationError(
                    "Services only accept requests through the gateway: missing X-Micro-Identity.",
                    code="identity_missing",
                )
            )(scope, receive, send)
            return
        try:
            scope[_SCOPE_KEY] = self.verify(token)
        except AuthenticationError as exc:
            await error_response(exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class TokenCache:
    """Reuses a signed token for the same identity for half its life.

    Signing costs ~30 µs, on every request the gateway forwards; the request id travels in
    X-Request-Id, so tokens carry none and the same caller's token can be reused.
    """

    def __init__(self, key: str, *, ttl: int = TOKEN_TTL_SECONDS, size: int = 10_000) -> None:
        self.key = key
        self.ttl = ttl
        self.size = size
        self._tokens: dict[Identity, tuple[str, float]] = {}

    def get(self, identity: Identity) -> str:
        now = time.monotonic()
        cached = self._tokens.get(identity)
        if cached is not None and cached[1] > now:
            return cached[0]
        if len(self._tokens) >= self.size:
            self._tokens.clear()
        token = mint(identity, self.key, ttl=self.ttl)
        self._tokens[identity] = (token, now + self.ttl / 2)
        return token
