"""Dashboard sessions: an opaque cookie naming a record in Redis that holds the user's API
session (the access and refresh tokens auth issued at sign-in), the CSRF token of its forms
and the test/live switch.

The browser never sees a token: the cookie is 32 random bytes, and Redis keys it by its
SHA-256, so a Redis dump does not yield working cookies. The record lives as long as the
refresh token may (auth's `refresh_token_ttl`, capped here), and every page that finds it
expired or refused by auth deletes it. Revoking the API session (sign-out anywhere, a user
deactivated, a reused refresh token) therefore ends the dashboard session on its next page.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Literal

import redis.asyncio as aioredis

from shared.access import Role

COOKIE = "micro_dashboard"
# The sign-in form's CSRF token, before there is a session to hold one (double submit).
SIGNIN_COOKIE = "micro_dashboard_signin"
_PREFIX = "micro:dashboard:session:"
# A record outlives neither its refresh token nor this: a week without a sign-in is enough.
MAX_SECONDS = 7 * 24 * 3600

Mode = Literal["test", "live"]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _key(cookie: str) -> str:
    return _PREFIX + hashlib.sha256(cookie.encode()).hexdigest()


@dataclass(slots=True)
class DashboardSession:
    access_token: str
    refresh_token: str
    # Unix time after which the access token is refreshed before use.
    access_expires: float
    user_id: str
    email: str
    role: Role
    tenant_id: str | None
    csrf: str = field(default_factory=new_token)
    mode: Mode = "test"
    # One line shown on the next page (what an action did), then forgotten.
    notice: str | None = None

    @property
    def platform(self) -> bool:
        return self.role is Role.PLATFORM_ADMIN

    @property
    def tenant_admin(self) -> bool:
        return self.role is Role.TENANT_ADMIN

    def to_json(self) -> str:
        data = asdict(self)
        data["role"] = self.role.value
        return json.dumps(data)

    @classmethod
    def from_json(cls, raw: str | bytes) -> DashboardSession:
        data = json.loads(raw)
        data["role"] = Role(data["role"])
        return cls(**data)


class Sessions:
    """The records, in the gateway's Redis."""

    def __init__(self, redis: aioredis.Redis, seconds: int = MAX_SECONDS) -> None:
        self.redis = redis
        self.seconds = seconds

    async def create(self, session: DashboardSession) -> str:
        cookie = new_token()
        await self.save(cookie, session)
        return cookie

    async def load(self, cookie: str | None) -> DashboardSession | None:
        if not cookie or len(cookie) > 100:
            return None
        raw = await self.redis.get(_key(cookie))
        if raw is None:
            return None
        try:
            return DashboardSession.from_json(raw)
        except (ValueError, TypeError, KeyError):
            return None

    async def save(self, cookie: str, session: DashboardSession) -> None:
        await self.redis.set(_key(cookie), session.to_json(), ex=self.seconds)

    async def delete(self, cookie: str) -> None:
        await self.redis.delete(_key(cookie))


def expires_at(expires_in: int) -> float:
    """When to refresh a token that is good for `expires_in` seconds: a little early, so a
    token does not lapse between the check and the call."""
    return time.time() + max(0, expires_in - 30)
