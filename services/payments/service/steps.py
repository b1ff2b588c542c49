"""Every change of payments, sequenced: its transactions, the calls to a provider or the
ledger between them (never inside one), and what is owed the ledger once it committed.

Routes call one function per operation (here for a change, the area's module for a read)
and render what it returns.

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

Every change says what it owes the ledger in one shape (`service/changes.Changed`); once
its transaction has committed, `hand_over` wakes the relay for those postings (an intent's
success also waits, bounded, for the ledger to take its posting), and `_finish` raises an
error that was committed with the change (a decline).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, TypeVar

from services.payments.errors import PaymentIntentNotFoundError
from services.payments.providers.base import Provider
from services.payments.providers.http import ProviderRequestError, ProviderUnreachable
from services.payments.repository import intents as intents_repo
from services.payments.repository import payouts as payouts_repo
from services.payments.repository.intents import IntentRow
from services.payments.repository.payouts import PayoutRow
from services.payments.schemas import (
    CancelIntentRequest,
    CaptureIntentRequest,
    ConfirmIntentRequest,
    CreateIntentRequest,
    PaymentIntent,
    Payout,
    PayoutRequest,
    Refund,
    RefundRequest,
    UpdateIntentRequest,
)
from services.payments.service import intents, payouts, refunds, webhooks
from services.payments.service.changes import Changed
from services.payments.service.intents import Attempt
from services.payments.service.lifecycle import current_reference
from services.payments.service.provider_accounts import ProviderSource
from shared.db import Connection, Pool, in_transaction, transaction
from shared.errors import MicroError
from shared.identity import Identity

if TYPE_CHECKING:
    from collections.abc import Mapping

    from services.payments.service.ledger_relay import LedgerRelay
    from services.payments.state import PaymentsState

T = TypeVar("T")

# What a provider answers when nothing happened at its end: the claim is let go.
_NOTHING_HAPPENED = (ProviderUnreachable, ProviderRequestError)
_RETURN_RECHECK = ("requires_action", "processing")

IntentChange = Callable[[Connection], Awaitable[Changed[PaymentIntent] | Attempt]]


# -- payment intents ---------------------------------------------------------------------------


async def create_intent(
    payments: PaymentsState, identity: Identity, request: CreateIntentRequest
) -> PaymentIntent:
    # The wallet's ledger account is looked up before anything is locked.
    await intents.check_new_intent(identity, request, ledger=payments.ledger)
    return await change_intent(
        payments,
        lambda conn: intents.create_intent(
            conn, identity, request, payments.providers, public_url=payments.public_url
        ),
    )


async def update_intent(
    payments: PaymentsState, identity: Identity, intent_id: str, request: UpdateIntentRequest
) -> PaymentIntent:
    return await change_intent(
        payments, lambda conn: intents.update_intent(conn, identity, intent_id, request)
    )


async def confirm_intent(
    payments: PaymentsState, identity: Identity, intent_id: str, request: ConfirmIntentRequest
) -> PaymentIntent:
    providers, public_url = payments.providers, payments.public_url
    return await change_intent(
        payments,
        lambda conn: intents.confirm_intent(
            conn, identity, intent_id, request, providers=providers, public_url=public_url
        ),
    )


async def cancel_intent(
    payments: PaymentsState, identity: Identity, intent_id: str, request: CancelIntentRequest
) -> PaymentIntent:
    return await change_intent(
        payments, lambda conn: intents.cancel_intent(conn, identity, intent_id, request)
    )


async def capture_intent(
    payments: PaymentsState, identity: Identity, intent_id: str, request: CaptureIntentRequest
) -> PaymentIntent:
    return await change_intent(
        payments, lambda conn: intents.capture_intent(conn, identity, intent_id, request)
    )


async def authenticate(
    payments: PaymentsState, intent_id: str, *, token: str, approve: bool
) -> PaymentIntent:
    """The customer's answer on the simulator's authentication page."""
    return await change_intent(
        payments,
        lambda conn: intents.authenticate(conn, intent_id, token=token, approve=approve),
    )


async def change_intent(payments: PaymentsState, change: IntentChange) -> PaymentIntent:
    """One intent's change (`change` runs in its own transaction); when it claimed an
    attempt at a provider, the call and its outcome follow. Then the ledger posting a
    success owes, and a decline is raised (committed first, answered as an error)."""
    step = await in_transaction(payments.pool, change)
    result = step if isinstance(step, Changed) else await _attempt(payments.pool, step)
    return await _finish(payments, result, deliver=True)


async def customer_return(payments: PaymentsState, provider: str, intent_id: str) -> PaymentIntent:
    """The customer is back from the provider's page: ask the provider at once."""

    async def look(conn: Connection) -> tuple[IntentRow, Provider | None]:
        row = await intents_repo.lock_intent_by_id(conn, intent_id)
        if row is None or row.provider != provider or provider == "simulator":
            raise PaymentIntentNotFoundError(intent_id)
        return row, await _provider_of(conn, payments.providers, row)

    row, found = await in_transaction(payments.pool, look)
    if row.status not in _RETURN_RECHECK:
        return PaymentIntent.from_row(row)
    result, _ = await _reverify(payments.pool, row, found, statuses=_RETURN_RECHECK)
    return await _finish(payments, result, deliver=True)


# -- refunds, payouts, webhooks ----------------------------------------------------------------


async def create_refund(
    payments: PaymentsState, identity: Identity, request: RefundRequest
) -> Refund:
    """No provider is asked (refunds go through the simulator only), but a refund out of a
    wallet asks the ledger for the wallet's funds: before the refund's transaction."""
    debit = await in_transaction(
        payments.pool, lambda conn: refunds.check_refund(conn, identity, request)
    )
    if debit is not None:
        await refunds.check_wallet_funds(payments.ledger, debit)
    refund = await in_transaction(
        payments.pool, lambda conn: refunds.create_refund(conn, identity, request)
    )
    return await _finish(payments, refund)


async def create_payout(
    payments: PaymentsState, identity: Identity, request: PayoutRequest
) -> Payout:
    step = await in_transaction(
        payments.pool,
        lambda conn: payouts.create_payout(conn, identity, request, payments.providers),
    )
    if isinstance(step, Changed):
        return await _finish(payments, step)
    transfer = step
    try:
        outcome = await transfer.call()
    except _NOTHING_HAPPENED as refused:
        await in_transaction(payments.pool, functools.partial(_refuse, transfer, refused))
        raise
    paid = await in_transaction(
        payments.pool, lambda conn: payouts.apply_transfer(conn, transfer, outcome)
    )
    return await _finish(payments, paid)


async def receive_webhook(
    payments: PaymentsState,
    *,
    provider: str,
    tenant_id: str | None,
    body: bytes,
    headers: Mapping[str, str],
) -> str:
    """A provider's webhook, applied in one transaction: what it did (its outcome)."""
    async with transaction(payments.pool) as conn:
        received = await webhooks.receive(
            conn, payments.providers, provider=provider, tenant_id=tenant_id, body=body,
            headers=headers,
        )  # fmt: skip
    return await _finish(payments, received)


# -- the reconciler's re-verifications ---------------------------------------------------------


async def reverify_intent(
    pool: Pool,
    source: ProviderSource,
    intent_id: str,
    *,
    statuses: Collection[str],
    abandon_if_pending: bool = False,
) -> tuple[Changed[PaymentIntent], str] | None:
    """Ask a hosted intent's provider how its current attempt stands and apply the answer;
    None when the intent is no longer in one of `statuses`. With `abandon_if_pending`, an
    attempt the provider still has no answer for is canceled as abandoned."""

    async def look(conn: Connection) -> tuple[IntentRow, Provider | None] | None:
        row = await intents_repo.lock_intent_by_id(conn, intent_id)
        if row is None or row.status not in statuses or row.provider == "simulator":
            return None
        return row, await _provider_of(conn, source, row)

    looked = await in_transaction(pool, look)
    if looked is None:
        return None
    return await _reverify(pool, *looked, statuses=statuses, abandon_if_pending=abandon_if_pending)


async def reverify_payout(
    pool: Pool, source: ProviderSource, payout_id: str
) -> tuple[Changed[Payout], str] | None:
    """Ask a pending payout's provider how its transfer stands and apply the answer: (the
    change, what was done); None when it is no longer pending."""

    async def look(conn: Connection) -> tuple[PayoutRow, Provider | None] | None:
        row = await payouts_repo.lock_payout(conn, payout_id)
        if row is None or row.status != "pending":
            return None
        return row, await _provider_of(conn, source, row)

    looked = await in_transaction(pool, look)
    if looked is None:
        return None
    row, provider = looked
    if provider is None:
        return Changed(Payout.from_row(row)), "no_provider"
    outcome = await provider.verify_transfer(payout_id=row.id, provider_id=row.provider_transfer_id)

    async def apply(conn: Connection) -> tuple[Changed[Payout], str]:
        locked = await payouts_repo.lock_payout(conn, payout_id)
        assert locked is not None
        # Final states stay final (but for a reversal): `settle` sorts out what changed.
        return await payouts.settle(conn, locked, outcome)

    return await in_transaction(pool, apply)


async def hand_over(relay: LedgerRelay, owes: tuple[str, ...], *, deliver: bool = False) -> None:
    """After the transaction that wrote them committed: wake the relay for the postings a
    change owes; with `deliver`, post each now, waiting at most `ledger_wait` (a balance
    read right after the change shows the money; the outbox delivers it later otherwise)."""
    if not owes:
        return
    relay.wake()
    if deliver:
        for reference in owes:
            await relay.deliver(reference, wait=relay.settings.ledger_wait)


# -- internals ---------------------------------------------------------------------------------


async def _finish(payments: PaymentsState, change: Changed[T], *, deliver: bool = False) -> T:
    """See what a committed change owes the ledger through, then raise its error (a
    decline), or answer its object."""
    await hand_over(payments.relay, change.owes, deliver=deliver)
    if change.error is not None:
        raise change.error
    return change.value


async def _refuse(transfer: payouts.Transfer, refused: MicroError, conn: Connection) -> None:
    await payouts.refuse_transfer(conn, transfer, refused)


async def _attempt(pool: Pool, attempt: Attempt) -> Changed[PaymentIntent]:
    try:
        outcome = await attempt.call()
    except _NOTHING_HAPPENED:
        await in_transaction(pool, lambda conn: intents.release_attempt(conn, attempt))
        raise
    # Any other failure (a crash, a cancellation) leaves the claim `processing`, for the
    # reconciler: the provider may have acted.
    return await in_transaction(pool, lambda conn: intents.apply_attempt(conn, attempt, outcome))


async def _provider_of(
    conn: Connection, source: ProviderSource, row: IntentRow | PayoutRow
) -> Provider | None:
    return await source.of(
        conn,
        tenant_id=row.tenant_id,
        livemode=row.livemode,
        provider=row.provider,
        owner=row.provider_account,
    )


async def _reverify(
    pool: Pool,
    row: IntentRow,
    provider: Provider | None,
    *,
    statuses: Collection[str],
    abandon_if_pending: bool = False,
) -> tuple[Changed[PaymentIntent], str]:
    if provider is None or not provider.hosted:
        return Changed(PaymentIntent.from_row(row)), "no_provider"
    reference = current_reference(row)
    outcome = await provider.verify(reference=reference, amount=row.amount, currency=row.currency)

    async def apply(conn: Connection) -> tuple[Changed[PaymentIntent], str]:
        locked = await intents_repo.lock_intent_by_id(conn, row.id)
        assert locked is not None
        # `settle` applies the answer to whatever the intent is now, by its reference: a
        # success lands once, a failure only for the attempt still current.
        result, done = await intents.settle(conn, locked, outcome, reference=reference)
        unchanged = locked.status in statuses and locked.attempts == row.attempts
        if done == "still_pending" and abandon_if_pending and unchanged:
            return await intents.abandon(conn, locked), "abandoned"
        return result, done

    return await in_transaction(pool, apply)
