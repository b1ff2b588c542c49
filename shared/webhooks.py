"""Standard Webhooks signatures, for endpoint deliveries and `micro listen`.

`webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` where the key is
the base64 part of a `whsec_` secret, so the public `standardwebhooks` verifiers accept it.
Signed with several secrets (while a rolled one still counts), the header holds one
signature per secret, space-separated, as the specification allows; a receiver holding any
one of the secrets verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence

PREFIX = "whsec_"
_SECRET_BYTES = 32


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def derived_secret(master: str, purpose: str) -> str:
    """A secret that is the same every time for one purpose (e.g. one tenant's CLI listens)."""
    digest = hmac.new(master.encode(), purpose.encode(), hashlib.sha256).digest()
    return PREFIX + base64.b64encode(digest).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(
    secret: str | Sequence[str], msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    keys = [secret] if isinstance(secret, str) else list(secret)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": " ".join(sign(key, msg_id, ts, body) for key in keys),
    }
