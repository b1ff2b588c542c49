"""What a CLI session hands `micro listen`: a short-lived WebSocket token and a stable secret.

The secret is derived, not stored: HMAC of the listen signing key over the tenant and mode,
so every session, every gateway replica and every restart gives a tenant the same `whsec_`
for that mode (the developer configures it once in their local app). Tokens are signed with
the relay token key, a different one: neither the identity key nor a tenant's secret lets
anyone mint a token, and a token's key computes no tenant's secret.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from shared import webhooks
from shared.outbox import mode

_AUDIENCE = "micro-cli-listen"
_ALGORITHM = "HS256"


class ListenTokenError(Exception):
    """The token is missing, malformed, forged or expired; the message says which."""


@dataclass(frozen=True, slots=True)
class ListenGrant:
    """Who may listen to which stream, as the token says."""

    tenant_id: str
    livemode: bool
    principal: str
    expires_at: int
    # The credential that opened the session, as auth names it when it revokes it (an API
    # key's SHA-256, a session id): its socket closes when it is revoked.
    credential: str


def listen_secret(signing_key: str, tenant_id: str, livemode: bool) -> str:
    """The tenant's `whsec_` for one mode (`signing_key`: MICRO_GATEWAY_LISTEN_SIGNING_KEY)."""
    return webhooks.derived_secret(signing_key, f"cli:{tenant_id}:{mode(livemode)}")


def mint_listen_token(
    token_key: str,
    *,
    session_id: str,
    tenant_id: str,
    livemode: bool,
    principal: str,
    credential: str,
    ttl: int,
) -> tuple[ListenGrant, str]:
    now = int(time.time())
    grant = ListenGrant(tenant_id, livemode, principal, now + ttl, credential)
    claims = {
        "aud": _AUDIENCE,
        "jti": session_id,
        "iat": now,
        "exp": grant.expires_at,
        "tid": tenant_id,
        "livemode": livemode,
        "sub": principal,
        "cred": credential,
    }
    return grant, jwt.encode(claims, token_key, algorithm=_ALGORITHM)


def verify_listen_token(token_key: str, token: str) -> ListenGrant:
    if not token:
        raise ListenTokenError(
            "missing websocket_token: create a session with POST /cli/sessions first"
        )
    try:
        claims = jwt.decode(
            token,
            token_key,
            algorithms=[_ALGORITHM],
            audience=_AUDIENCE,
            options={"require": ["exp", "iat", "aud", "tid", "sub", "cred"]},
        )
    except jwt.ExpiredSignatureError:
        raise ListenTokenError(
            "websocket_token expired: create a new session with POST /cli/sessions"
        ) from None
    except jwt.PyJWTError:
        raise ListenTokenError("invalid websocket_token") from None
    return ListenGrant(
        tenant_id=str(claims["tid"]),
        livemode=bool(claims.get("livemode", False)),
        principal=str(claims["sub"]),
        expires_at=int(claims["exp"]),
        credential=str(claims["cred"]),
    )
