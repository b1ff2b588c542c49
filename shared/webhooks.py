"""Webhook signatures, for endpoint deliveries and `micro listen`: two schemes.

- `standard` (Standard Webhooks, the default): `webhook-id`, `webhook-timestamp` and
  `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` where the key
  is the base64 part of a `whsec_` secret, so the public `standardwebhooks` verifiers accept
  it. Signed with several secrets (while a rolled one still counts), the header holds one
  signature per secret, space-separated, as the specification allows.
- `stripe` (Stripe's): `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(key, "{t}.{body}")>`
  where the key is the whole secret string's UTF-8 bytes, `whsec_` included, as Stripe's SDKs
  verify it (`stripe.Webhook.construct_event`, `stripe.webhooks.constructEvent`). Several
  secrets give one `v1=` each; the verifiers accept a header if any of them matches.

Either way a receiver holding any one of the secrets verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from typing import Literal

PREFIX = "whsec_"
_SECRET_BYTES = 32

Scheme = Literal["standard", "stripe"]
SCHEMES: tuple[Scheme, ...] = ("standard", "stripe")
STRIPE_HEADER = "Stripe-Signature"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def derived_secret(master: str, purpose: str) -> str:
    """A secret that is the same every time for one purpose (e.g. one tenant's CLI listens)."""
    digest = hmac.new(master.encode(), purpose.encode(), hashlib.sha256).digest()
    return PREFIX + base64.b64encode(digest).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def _secrets(secret: str | Sequence[str]) -> list[str]:
    return [secret] if isinstance(secret, str) else list(secret)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(
    secret: str | Sequence[str], msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The Standard Webhooks headers."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": " ".join(sign(key, msg_id, ts, body) for key in _secrets(secret)),
    }


def stripe_signature(secret: str | Sequence[str], body: bytes, timestamp: int) -> str:
    """The `Stripe-Signature` value: `t=<timestamp>` then one `v1=` per secret."""
    signed = f"{timestamp}.".encode() + body
    parts = [f"t={timestamp}"]
    for key in _secrets(secret):
        parts.append("v1=" + hmac.new(key.encode(), signed, hashlib.sha256).hexdigest())
    return ",".join(parts)


def signed_headers(
    scheme: Scheme,
    secret: str | Sequence[str],
    msg_id: str,
    body: bytes,
    timestamp: int | None = None,
) -> dict[str, str]:
    """The signature headers of one delivery in `scheme` (`msg_id`: the event's id)."""
    if scheme == "stripe":
        ts = int(time.time()) if timestamp is None else timestamp
        return {STRIPE_HEADER: stripe_signature(secret, body, ts)}
    return headers(secret, msg_id, body, timestamp)
