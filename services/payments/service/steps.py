"""Changes that talk to a provider or the ledger, in steps: never inside a transaction.

A call to Paystack or Flutterwave may take `provider_timeout` seconds. Made inside a
transaction, it would keep a pooled connection and the object's row lock for all that
time, and a handful of slow calls would stall every request of the service, inbound
webhooks included. So each such change runs as

1. the claim, in one transaction, committed: the intent `processing` with its attempt
   counted (which names the provider reference), or the payout recorded `pending`;
2. the call, with no connection held (the providers' HTTP layer refuses to start one while
   the task holds a transaction: `shared.db.forbid_transaction`);
3. the outcome, applied in a second transaction, only if the claim is still the current
   one: a webhook, the customer's return or the reconciler may have settled it meanwhile,
   and nothing is applied twice or undone.

A crash between 1 and 3 leaves the claim `processing`/`pending`; the reconciler asks the
provider about it by its reference (`reverify_intent`, `reverify_payout`), in the same steps.
The simulator answers in-process without I/O, so its changes stay one transaction. Reading
a wallet's ledger account happens before the transaction that needs it, for the same reason.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Protocol

import asyncpg

from services.payments import repository
from services.payments.errors import PaymentIntentNotFoundError
from services.payments.providers.base import Provider
from services.payments.providers.http import ProviderRequestError, ProviderUnreachable
from services.payments.schemas import (
    CreateIntentRequest,
    PaymentIntent,
    Payout,
    PayoutRequest,
    Refund,
    RefundRequest,
)
from services.payments.service import intents, payouts, refunds
from services.payments.service.accounts import ProviderSource
from services.payments.service.intents import Attempt, LedgerAccounts, Result
from shared.db import Connection, Pool, in_transaction
from shared.errors import MicroError
from shared.identity import Identity

# What a provider answers when nothing happened at its end: the claim is let go.
_NOTHING_HAPPENED = (ProviderUnreachable, ProviderRequestError)
_RETURN_RECHECK = ("requires_action", "processing")


class Ledger(LedgerAccounts, Protocol):
    """The posting relay, as these steps use it."""

    def wake(self) -> None: ...

    async def deliver(self, reference_id: str, *, wait: float) -> bool: ...


@dataclass(frozen=True, slots=True)
class Payments:
    """What a change in steps needs: the pool (each step takes a connection of its own and
    gives it back), the providers and the ledger."""

    pool: Pool
    providers: ProviderSource
    ledger: Ledger
    public_url: str
    # How long a success waits for the ledger to take its posting (see `_finish`).
    ledger_wait: float


IntentChange = Callable[[Connection], Awaitable[Result | Attempt]]


async def change_intent(payments: Payments, change: IntentChange) -> Result:
    """One intent's change (`change` runs in its own transaction); when it claimed an
    attempt at a provider, the call and its outcome follow. Then the ledger posting a
    success owes, and a decline is raised (committed first, answered as an error)."""
    step = await in_transaction(payments.pool, change)
    result = step if isinstance(step, Result) else await _attempt(payments.pool, step)
    return await _finish(payments, result)


async def create_intent(
    payments: Payments, identity: Identity, request: CreateIntentRequest
) -> Result:
    # The wallet's ledger account is looked up before anything is locked.
    await intents.check_new_intent(identity, request, ledger=payments.ledger)
    return await change_intent(
        payments,
        lambda conn: intents.create_intent(
            conn, identity, request, payments.providers, public_url=payments.public_url
        ),
    )


async def customer_return(payments: Payments, provider: str, intent_id: str) -> Result:
    """The customer is back from the provider's page: ask the provider at once."""

    async def look(conn: Connection) -> tuple[asyncpg.Record, Provider | None]:
        row = await repository.lock_intent_by_id(conn, intent_id)
        if row is None or row["provider"] != provider or provider == "simulator":
            raise PaymentIntentNotFoundError(intent_id)
        return row, await _provider_of(conn, payments.providers, row)

    row, found = await in_transaction(payments.pool, look)
    if row["status"] not in _RETURN_RECHECK:
        return Result(PaymentIntent.from_row(row))
    result, _ = await _reverify(payments.pool, row, found, statuses=_RETURN_RECHECK)
    return await _finish(payments, result)


async def create_payout(
    payments: Payments, identity: Identity, request: PayoutRequest
) -> tuple[Payout, bool]:
    """(the payout, whether it owes the ledger a posting now)."""
    step = await in_transaction(
        payments.pool,
        lambda conn: payouts.create_payout(conn, identity, request, payments.providers),
    )
    if not isinstance(step, payouts.Transfer):
        return step
    transfer = step
    try:
        outcome = await transfer.call()
    except _NOTHING_HAPPENED as refused:
        await in_transaction(payments.pool, functools.partial(_refuse, transfer, refused))
        raise
    return await in_transaction(
        payments.pool, lambda conn: payouts.apply_transfer(conn, transfer, outcome)
    )


async def create_refund(payments: Payments, identity: Identity, request: RefundRequest) -> Refund:
    """No provider is asked (refunds go through the simulator only), but a refund out of a
    wallet asks the ledger for the wallet's funds: before the refund's transaction."""
    debit = await in_transaction(
        payments.pool, lambda conn: refunds.check_refund(conn, identity, request)
    )
    if debit is not None:
        await refunds.check_wallet_funds(payments.ledger, debit)
    return await in_transaction(
        payments.pool, lambda conn: refunds.create_refund(conn, identity, request)
    )


async def reverify_intent(
    pool: Pool,
    source: ProviderSource,
    intent_id: str,
    *,
    statuses: Collection[str],
    abandon_if_pending: bool = False,
) -> tuple[Result, str] | None:
    """Ask a hosted intent's provider how its current attempt stands and apply the answer;
    None when the intent is no longer in one of `statuses`. With `abandon_if_pending`, an
    attempt the provider still has no answer for is canceled as abandoned."""

    async def look(conn: Connection) -> tuple[asyncpg.Record, Provider | None] | None:
        row = await repository.lock_intent_by_id(conn, intent_id)
        if row is None or row["status"] not in statuses or row["provider"] == "simulator":
            return None
        return row, await _provider_of(conn, source, row)

    looked = await in_transaction(pool, look)
    if looked is None:
        return None
    return await _reverify(pool, *looked, statuses=statuses, abandon_if_pending=abandon_if_pending)


async def reverify_payout(
    pool: Pool, source: ProviderSource, payout_id: str
) -> tuple[bool, str] | None:
    """Ask a pending payout's provider how its transfer stands and apply the answer:
    (owes the ledger, what was done); None when it is no longer pending."""

    async def look(conn: Connection) -> tuple[asyncpg.Record, Provider | None] | None:
        row = await repository.lock_payout(conn, payout_id)
        if row is None or row["status"] != "pending":
            return None
        return row, await _provider_of(conn, source, row)

    looked = await in_transaction(pool, look)
    if looked is None:
        return None
    row, provider = looked
    if provider is None:
        return False, "no_provider"
    outcome = await provider.verify_transfer(
        payout_id=row["id"], provider_id=row["provider_transfer_id"]
    )

    async def apply(conn: Connection) -> tuple[bool, str]:
        locked = await repository.lock_payout(conn, payout_id)
        assert locked is not None
        # Final states stay final (but for a reversal): `settle` sorts out what changed.
        _, owes, done = await payouts.settle(conn, locked, outcome)
        return owes, done

    return await in_transaction(pool, apply)


# -- internals ---------------------------------------------------------------------------------


async def _refuse(transfer: payouts.Transfer, refused: MicroError, conn: Connection) -> None:
    await payouts.refuse_transfer(conn, transfer, refused)


async def _attempt(pool: Pool, attempt: Attempt) -> Result:
    try:
        outcome = await attempt.call()
    except _NOTHING_HAPPENED:
        await in_transaction(pool, lambda conn: intents.release_attempt(conn, attempt))
        raise
    # Any other failure (a crash, a cancellation) leaves the claim `processing`, for the
    # reconciler: the provider may have acted.
    return await in_transaction(pool, lambda conn: intents.apply_attempt(conn, attempt, outcome))


async def _finish(payments: Payments, result: Result) -> Result:
    """See a success's ledger posting through (bounded: a balance read right after it shows
    the money; the outbox delivers it later otherwise), then raise a decline."""
    if result.owes_ledger:
        payments.ledger.wake()
        await payments.ledger.deliver(result.intent.id, wait=payments.ledger_wait)
    if result.error is not None:
        raise result.error
    return result


async def _provider_of(
    conn: Connection, source: ProviderSource, row: asyncpg.Record
) -> Provider | None:
    return await source.of(
        conn,
        tenant_id=row["tenant_id"],
        livemode=row["livemode"],
        provider=row["provider"],
        owner=row["provider_account"],
    )


async def _reverify(
    pool: Pool,
    row: asyncpg.Record,
    provider: Provider | None,
    *,
    statuses: Collection[str],
    abandon_if_pending: bool = False,
) -> tuple[Result, str]:
    if provider is None or not provider.hosted:
        return Result(PaymentIntent.from_row(row)), "no_provider"
    reference = intents.current_reference(row)
    outcome = await provider.verify(
        reference=reference, amount=row["amount"], currency=row["currency"]
    )

    async def apply(conn: Connection) -> tuple[Result, str]:
        locked = await repository.lock_intent_by_id(conn, row["id"])
        assert locked is not None
        # `settle` applies the answer to whatever the intent is now, by its reference: a
        # success lands once, a failure only for the attempt still current.
        result, done = await intents.settle(conn, locked, outcome, reference=reference)
        unchanged = locked["status"] in statuses and locked["attempts"] == row["attempts"]
        if done == "still_pending" and abandon_if_pending and unchanged:
            return await intents.abandon(conn, locked), "abandoned"
        return result, done

    return await in_transaction(pool, apply)
