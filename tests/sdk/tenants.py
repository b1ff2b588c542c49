"""The merchants the Stripe SDK flows run as: tenants made through the gateway, each with
a test-mode key, as a developer who points an SDK at Micro has."""

from __future__ import annotations

from dataclasses import dataclass

from tests.e2e.accounts import create_key, platform_admin, raise_rate_limit, register
from tests.e2e.stack import RunningStack

# A whole flow makes more requests in a minute than the default 100 a key may.
FLOW_RATE_LIMIT = 100_000
# Small enough that a handful of calls runs into it.
TIGHT_RATE_LIMIT = 3


@dataclass(frozen=True, slots=True)
class Merchant:
    tenant_id: str
    # A test-mode secret key (`sk_test_...`): what the SDKs are given.
    key: str


def merchant(stack: RunningStack, *, rate_limit: int = FLOW_RATE_LIMIT) -> Merchant:
    """A new tenant whose limit the platform admin set before its key was made."""
    with stack.client() as client:
        owner = register(client)
        raise_rate_limit(client, platform_admin(client), owner.tenant_id, rate_limit)
        return Merchant(owner.tenant_id, create_key(client, owner)["secret"])
