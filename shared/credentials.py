"""What auth and the gateway agree on about credentials in Redis.

Auth is the source of truth; Redis carries what every gateway process must see within a
second, without asking auth on each request:

- ``micro:revoked:<token>``: a revocation marker for an API key (by its SHA-256) or a session
  (by its id). Gateways check it on every request, inside the same Lua call as the rate
  limit, so a revoked credential stops everywhere at once, whatever they have cached.
- ``micro:apikey:<sha256>``: a short-lived cache of auth's answer for a key.
- ``micro:apikey:invalidate``: pub/sub channel; a message (the key's SHA-256) evicts it from
  every gateway's in-process cache.
- ``micro:apikey:last_used``: hash of key id -> last use (unix seconds), written by gateways.
- ``micro:revoked``: pub/sub channel; a message (JSON ``{"token", "reason"}``, the token as
  in the marker) closes every open ``/cli/listen`` socket opened with that credential.
- ``micro:tenant:<id>``: a short-lived cache of a tenant's status and live mode, for
  live-mode requests: filled by gateways from auth's answer (only where missing), written by
  auth when it changes.
- ``micro:tenant:changed``: pub/sub channel; a message (the tenant id) evicts it from every
  gateway's in-process cache, and re-checks that tenant's open live sockets.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

REVOKED_PREFIX = "micro:revoked:"
KEY_CACHE_PREFIX = "micro:apikey:"
INVALIDATE_CHANNEL = "micro:apikey:invalidate"
LAST_USED_HASH = "micro:apikey:last_used"
REVOKED_CHANNEL = "micro:revoked"
TENANT_CACHE_PREFIX = "micro:tenant:"
TENANT_CHANNEL = "micro:tenant:changed"
# Longer than any cache of a key anywhere, so a marker outlives every stale copy.
REVOCATION_TTL_SECONDS = 3600
KEY_CACHE_TTL_SECONDS = 60

TEST_PREFIX = "sk_test_"
LIVE_PREFIX = "sk_live_"

JWT_ISSUER = "micro-auth"
JWT_AUDIENCE = "micro"
JWT_ALGORITHM = "EdDSA"


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# Every Micro secret key starts so; a bearer with it is an API key attempt, never a JWT.
KEY_PREFIX = "sk_"


def looks_like_api_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def is_api_key_form(token: str) -> bool:
    """The shape auth issues (`sk_test_...` / `sk_live_...`); any other `sk_` is not a key."""
    return token.startswith((TEST_PREFIX, LIVE_PREFIX))


@dataclass(frozen=True, slots=True)
class VerifiedKey:
    """Auth's answer about an active key: who it acts for and until when."""

    id: str
    tenant_id: str
    livemode: bool
    rate_limit: int | None
    expires_at: int | None

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, raw: str | bytes) -> VerifiedKey:
        data: dict[str, Any] = json.loads(raw)
        return cls(**data)


@dataclass(frozen=True, slots=True)
class TenantState:
    """Auth's answer about a tenant, as much as a gateway needs to let live mode through."""

    id: str
    status: str  # active | disabled
    live_mode: str  # off | requested | on

    @property
    def live(self) -> bool:
        return self.status == "active" and self.live_mode == "on"

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, raw: str | bytes) -> TenantState:
        data: dict[str, Any] = json.loads(raw)
        return cls(**data)
