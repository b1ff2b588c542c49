"""The Idempotency-Key a payment object is made under, kept on its row.

shared/idempotency.py replays a keyed request's stored answer. What it cannot cover is a
process that died after its commit and before storing the answer: the client's retry
takes the claim over (a rerun) and runs again. A create then meets the object its first
run made, by this key, and answers with it instead of making a second intent, refund or
payout. Outside a rerun the same key on a new object means its stored answer was purged
(after a day) and the key came back for another request: refused, as Stripe refuses it.
"""

from __future__ import annotations

from typing import TypeVar

from shared.context import is_idempotent_rerun
from shared.idempotency import creation_key, key_reused
from shared.identity import Identity

__all__ = ["creation_key", "key_reused", "made_before", "rerun_key"]

T = TypeVar("T")


def rerun_key(identity: Identity) -> str | None:
    """The key to look the first run's object up by, when this request is a rerun."""
    return creation_key(identity) if is_idempotent_rerun() else None


def made_before(found: T | None) -> T:
    """The object the dead first run of this request made; IdempotencyError if the key
    belongs to another request."""
    if found is None or not is_idempotent_rerun():
        raise key_reused()
    return found
