"""Failover: a confirm whose provider failed in a way that took no money is tried on the
next provider of the intent's route, as a new attempt with its own reference.

What counts, for the attempt at hand (`steps._attempt` sorts the answers):

- unreachable (the request never left), or an answer of 429 (turned away unprocessed): no
  money can have moved; the next provider is asked at once.
- refused outright (another 4xx: a key the provider does not take, a request it will not
  serve): nothing happened there either, and the cause is the account or the request, not
  the customer, so the next provider is asked too (as Hyperswitch may retry a connector's
  configuration errors elsewhere). When every provider refuses, the last refusal is the
  answer and the intent goes back to where it was, as with one provider.
- no answer in time, or a 5xx (the request may have acted): the attempt is first asked
  about at its provider by its reference, with no connection held. Only an answer that it
  took nothing (no such transaction, or failed) lets the next attempt start; a success is
  applied; anything else (still pending there, or no answer again) leaves the intent
  `processing` for the reconciler, and no other provider is asked (Paystack's
  `abandoned`, a transaction started and not completed, is such an answer: it may still
  be completed, so it is no proof that nothing was taken). A transaction the
  provider starts after that answer cannot take money either: its hosted page's address
  was never handed to anyone.
- a decline is the customer's answer: never tried elsewhere.

Each step is a claim (`fail_over`): under the intent's row lock, only if the attempt is
still the current one (a webhook, the reconciler or another replica may have settled it),
the attempt is ended `failed` with why, and the next one claimed and committed before its
provider is asked. A crash anywhere leaves the current attempt `processing`, which the
reconciler verifies by its reference, as for any attempt; it never fails over itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from prometheus_client import Counter

from services.payments.providers.base import Outcome
from services.payments.providers.http import (
    ProviderRateLimited,
    ProviderRequestError,
    ProviderUnreachable,
)
from services.payments.repository import intents as intents_repo
from services.payments.schemas import PaymentIntent
from services.payments.service import attempts, intents
from services.payments.service.changes import Changed
from services.payments.service.intents import Attempt
from services.payments.service.provider_accounts import (
    ProviderNotConfiguredError,
    ProviderSource,
)
from shared.db import Connection
from shared.errors import MicroError

FAILOVERS = Counter(
    "micro_payments_failovers_total",
    "Confirms moved from one provider to the next of their route, by why the first took "
    "no money (provider_unavailable, provider_rate_limited, provider_error, "
    "provider_timeout).",
    ["from_provider", "to_provider", "reason"],
)


@dataclass(frozen=True, slots=True)
class Failure:
    """Why an attempt took no money, as its attempt row shows it."""

    code: str
    message: str


def refusal(error: MicroError) -> Failure:
    if isinstance(error, ProviderRateLimited):
        return Failure("provider_rate_limited", error.message)
    if isinstance(error, ProviderUnreachable):
        return Failure("provider_unavailable", error.message)
    assert isinstance(error, ProviderRequestError)
    return Failure("provider_error", error.message)


def lost_answer(outcome: Outcome, provider: str) -> Failure:
    said = outcome.message or f"{provider} did not answer in time"
    return Failure("provider_timeout", f"{said}; verified: nothing was charged.")


def can_fail_over(attempt: Attempt) -> bool:
    return bool(_later(attempt))


async def fail_over(
    conn: Connection, source: ProviderSource, attempt: Attempt, failure: Failure
) -> Attempt | Literal["stale", "exhausted"]:
    """End `attempt` (it took no money) and claim the next one on the route's next usable
    provider; "exhausted" when there is none (the intent goes back to where it was),
    "stale" when the attempt is no longer the intent's current one (nothing is done)."""
    row = await intents_repo.lock_intent_by_id(conn, attempt.intent_id)
    assert row is not None  # intents are never deleted
    if row.status != "processing" or row.attempts != attempt.number:
        return "stale"
    await attempts.fail(conn, attempt.charge, code=failure.code, message=failure.message)
    for name in _later(attempt):
        try:
            provider, owner = await source.choose(
                conn, tenant_id=row.tenant_id, livemode=row.livemode, provider=name
            )
        except ProviderNotConfiguredError:
            continue  # no account there for this tenant in this mode
        if not provider.hosted:
            continue  # routes never mix the simulator with hosted providers
        moved = await intents_repo.update_intent(
            conn, row.id, provider=name, provider_account=owner
        )
        # Counted before the commit: a retried transaction may count a move twice, never
        # miss one (the rate is what an operator watches, not the exact count).
        FAILOVERS.labels(attempt.provider.name, name, failure.code).inc()
        return await intents.claim(
            conn, moved, provider, method=attempt.payment_method,
            return_url=attempt.return_url, public_url=attempt.public_url, route=attempt.route,
            previous_status=attempt.previous_status,
        )  # fmt: skip
    await intents.release_attempt(conn, attempt)
    return "exhausted"


async def apply_verified(
    conn: Connection, attempt: Attempt, outcome: Outcome
) -> Changed[PaymentIntent]:
    """What the provider said when asked about an attempt whose answer was lost: a success
    lands (checked against the intent as any later word is); anything else leaves the
    intent `processing` for the reconciler."""
    row = await intents_repo.lock_intent_by_id(conn, attempt.intent_id)
    assert row is not None
    if outcome.kind == "authorized":
        changed, _ = await intents.settle(conn, row, outcome, reference=attempt.reference)
        return changed
    return await intents.apply_attempt(conn, attempt, Outcome("pending"))


def _later(attempt: Attempt) -> tuple[str, ...]:
    route = attempt.route or ()
    name = attempt.provider.name
    return route[route.index(name) + 1 :] if name in route else ()
