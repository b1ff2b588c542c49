"""What auth opens once per process: its settings, the key that signs access tokens, the
pool and Redis. Built in the lifespan (`services/auth/app.py`), reached through `auth_state`."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from starlette.requests import HTTPConnection

from services.auth.settings import AuthSettings
from services.auth.tokens import SigningKey
from shared.db import Pool
from shared.state import AppState, service_state


@dataclass(frozen=True, slots=True)
class AuthState:
    settings: AuthSettings
    # Signs every access token this process issues; its public half is in the JWKS.
    signing_key: SigningKey
    pool: Pool
    # Where revocations are announced, once the change that caused them has committed.
    redis: aioredis.Redis


def auth_state(conn: HTTPConnection | AppState) -> AuthState:
    return service_state(conn, AuthState)
