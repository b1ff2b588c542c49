"""Stripe's `/v1` paths: the native path that serves each.

The Stripe-compatible API is no second implementation: the gateway rewrites `/v1/<resource>`
onto the native path of the service that owns it and marks the request's identity with the
`stripe` dialect. A service reads the dialect only where Stripe's clients and Micro's differ
in what they are owed: the list `url` (the path the client asked for, which the SDKs page
on), and defaults such as the signature scheme of a new webhook endpoint.
"""

from __future__ import annotations

from typing import Literal

Dialect = Literal["micro", "stripe"]

PREFIX = "/v1"

# (Stripe's path, the native path), one row per resource, longest first where two share a start.
PATHS: tuple[tuple[str, str], ...] = (
    ("/v1/payment_intents", "/payments/payment_intents"),
    ("/v1/payment_methods", "/payments/payment_methods"),
    ("/v1/customers", "/payments/customers"),
    ("/v1/refunds", "/payments/refunds"),
    ("/v1/payouts", "/payments/payouts"),
    ("/v1/balance", "/ledger/balance"),
    ("/v1/events", "/events"),
    ("/v1/webhook_endpoints", "/webhook_endpoints"),
)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def is_v1(path: str) -> bool:
    return _under(path, PREFIX)


def native_path(path: str) -> str | None:
    """The native path behind a `/v1` path, or None when Micro serves no such resource."""
    for stripe, native in PATHS:
        if _under(path, stripe):
            return native + path[len(stripe) :]
    return None


def public_path(path: str, dialect: Dialect) -> str:
    """The path a client of `dialect` asked for, from the native path a service was sent."""
    if dialect == "stripe":
        for stripe, native in PATHS:
            if _under(path, native):
                return stripe + path[len(native) :]
    return path
