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

A refund through a real provider is claimed the same way (recorded `pending`, its amount
held). A crash between 1 and 3 leaves the claim `processing`/`pending`; the reconciler asks
the provider about it by its reference (`reverify_intent`, `reverify_payout`,
`reverify_refund`), in the same steps.
A routed intent's confirm that fails at its provider without taking money is claimed again
on the route's next provider, a step of its own in the same pattern (`_attempt`,
`service/failover.py`). The simulator answers in-process without I/O, so its changes stay
one transaction. Reading a wallet's ledger account happens before the transaction that
needs it, for the same reason.

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
from services.payments.providers.base import Outcome, Provider
from services.payments.providers.http import ProviderRequestError, ProviderUnreachable
from services.payments.repository import intents as intents_repo
from services.payments.repository import payouts as payouts_repo
from services.payments.repository import refunds as refunds_repo
from services.payments.repository.intents import IntentRow
from services.payments.repository.payouts import PayoutRow
from services.payments.repository.refunds import RefundRow
from services.payments.schemas import (
    AttachRequest,
    CancelIntentRequest,
    CaptureIntentRequest,
    ConfirmIntentRequest,
    CreateIntentRequest,
    Customer,
    CustomerRequest,
    DeletedCustomer,
    PaymentIntent,
    PaymentMethod,
    Payout,
    PayoutRequest,
    Refund,
    RefundRequest,
    UpdateCustomerRequest,
    UpdateIntentRequest,
    UpdateRefundRequest,
)
from services.payments.service import (
    customers,
    events,
    failover,
    intents,
    payouts,
    refunds,
    routing,
    webhooks,
)
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
Answer = TypeVar("Answer")

# What a provider answers when nothing happened at its end: the claim is let go.
_NOTHING_HAPPENED = (ProviderUnreachable, ProviderRequestError)
_RETURN_RECHECK = ("requires_action", "processing")

IntentChange = Callable[[Connection], Awaitable[Changed[PaymentIntent] | Attempt]]


# -- payment intents ---------------------------------------------------------------------------


async def create_intent(
    payments: PaymentsState, identity: Identity, request: CreateIntentRequest
) -> PaymentIntent:
    providers, public_url = payments.providers, payments.public_url
    if request.wallet_id is None:
        # Nothing to ask the ledger first: the route is read in the intent's own transaction
        # (one transaction fewer per payment).
        async def create(conn: Connection) -> Changed[PaymentIntent] | Attempt:
            routed, route = await routing.route_request(conn, providers, identity, request)
            intents.check_request(routed)
            return await intents.create_intent(
                conn, identity, routed, providers, public_url=public_url, route=route
            )

        return await change_intent(payments, create)
    # No provider named: the currency's route, if it has one, chooses (service/routing.py).
    request, route = await routing.routed_request(payments, identity, request)
    # The wallet's ledger account is looked up before anything is locked.
    await intents.check_new_intent(identity, request, ledger=payments.ledger)
    return await change_intent(
        payments,
        lambda conn: intents.create_intent(
            conn, identity, request, providers, public_url=public_url, route=route
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
    success owes, and a decline is raised (committed first, answered as an error). The
    change's events are written in one statement (`events.batched`)."""

    async def batched(conn: Connection) -> Changed[PaymentIntent] | Attempt:
        async with events.batched(conn):
            return await change(conn)

    step = await in_transaction(payments.pool, batched)
    result = step if isinstance(step, Changed) else await _attempt(payments, step)
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
    """A refund out of a wallet asks the ledger for the wallet's funds first, before the
    refund's transaction. Through a real provider the refund is claimed `pending` (its
    amount held), the provider asked with no connection held, and its answer applied in a
    second transaction (`refunds.apply_refund`)."""
    earlier = await in_transaction(
        payments.pool, lambda conn: refunds.made_by_dead_run(conn, identity)
    )
    if earlier is not None:
        return earlier
    debit = await in_transaction(
        payments.pool, lambda conn: refunds.check_refund(conn, identity, request)
    )
    if debit is not None:
        await refunds.check_wallet_funds(payments.ledger, debit)
    step = await in_transaction(
        payments.pool,
        lambda conn: refunds.create_refund(conn, identity, request, payments.providers),
    )
    if isinstance(step, Changed):
        return await _finish(payments, step)
    call = step
    applied = await _call_and_apply(
        payments.pool,
        call.call,
        refuse=lambda conn, refused: refunds.refuse_refund(conn, call, refused),
        apply=lambda conn, outcome: refunds.apply_refund(conn, call, outcome),
    )
    return await _finish(payments, applied)


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
    paid = await _call_and_apply(
        payments.pool,
        transfer.call,
        refuse=lambda conn, refused: payouts.refuse_transfer(conn, transfer, refused),
        apply=lambda conn, outcome: payouts.apply_transfer(conn, transfer, outcome),
    )
    return await _finish(payments, paid)


async def _call_and_apply(
    pool: Pool,
    call: Callable[[], Awaitable[Answer]],
    *,
    refuse: Callable[[Connection, MicroError], Awaitable[object]],
    apply: Callable[[Connection, Answer], Awaitable[Changed[T]]],
) -> Changed[T]:
    """Steps 2 and 3 of a claimed refund or payout: the provider asked with no connection
    held; an answer that nothing happened there lets the claim go (`refuse`, in its own
    transaction) and is raised; any other answer is applied. Any other failure (a crash, a
    cancellation) leaves the claim pending, for its webhook or the reconciler: the provider
    may have acted."""
    try:
        outcome = await call()
    except _NOTHING_HAPPENED as refused:
        error: MicroError = refused
        await in_transaction(pool, lambda conn: refuse(conn, error))
        raise
    return await in_transaction(pool, lambda conn: apply(conn, outcome))


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
        # A transfer found by its reference is named now, pending or not (next rounds ask
        # for it by that name).
        locked = await payouts.remember_transfer_id(conn, locked, outcome)
        # Final states stay final (but for a reversal): `settle` sorts out what changed.
        return await payouts.settle(conn, locked, outcome)

    return await in_transaction(pool, apply)


async def reverify_refund(
    pool: Pool, source: ProviderSource, refund_id: str
) -> tuple[Changed[Refund], str] | None:
    """Ask a pending refund's provider how it stands and apply the answer under the
    refund's lock: (the change, what was done); None when it is no longer pending."""

    async def look(conn: Connection) -> tuple[RefundRow, str, Provider | None] | None:
        row = await refunds_repo.lock_refund_by_id(conn, refund_id)
        if row is None or row.status != "pending" or row.provider == "simulator":
            return None
        # Read, not locked: the refund's lock is the one its answer is applied under.
        intent = await intents_repo.get_intent(
            conn, tenant_id=row.tenant_id, livemode=row.livemode, intent_id=row.payment_intent_id
        )
        assert intent is not None
        return row, current_reference(intent), await _provider_of(conn, source, intent)

    looked = await in_transaction(pool, look)
    if looked is None:
        return None
    row, reference, provider = looked
    if provider is None:
        return Changed(Refund.from_row(row)), "no_provider"
    outcome = await provider.verify_refund(
        refund_id=row.id, reference=reference, provider_id=row.provider_refund_id
    )

    async def apply(conn: Connection) -> tuple[Changed[Refund], str]:
        locked = await refunds_repo.lock_refund_by_id(conn, refund_id)
        assert locked is not None
        # A webhook may have settled it meanwhile: `settle` leaves a final refund be.
        return await refunds.settle(conn, locked, outcome)

    return await in_transaction(pool, apply)


async def hand_over(relay: LedgerRelay, owes: tuple[str, ...], *, deliver: bool = False) -> None:
    """After the transaction that wrote them committed: wake the relay for the postings a
    change owes; with `deliver`, post each now, waiting at most `ledger_wait` (a balance
    read right after the change shows the money; the outbox delivers it later otherwise).

    The relay is woken only for what the request did not deliver itself: woken first, it
    would race the request for the very row the request is about to post, and a request
    that lost the race waited, polling, for the relay's post instead of making its own."""
    if not owes:
        return
    if not deliver:
        relay.wake()
        return
    delivered = [
        await relay.deliver(reference, wait=relay.settings.ledger_wait) for reference in owes
    ]
    if not all(delivered):
        relay.wake()


# -- internals ---------------------------------------------------------------------------------


async def _finish(payments: PaymentsState, change: Changed[T], *, deliver: bool = False) -> T:
    """See what a committed change owes the ledger through, then raise its error (a
    decline), or answer its object."""
    await hand_over(payments.relay, change.owes, deliver=deliver)
    if change.error is not None:
        raise change.error
    return change.value


async def _attempt(payments: PaymentsState, attempt: Attempt) -> Changed[PaymentIntent]:
    """Ask the provider about a claimed attempt and apply its answer; for a routed intent,
    a failure that took no money is tried on the next provider (service/failover.py), each
    step claimed in a transaction of its own, every call made with no connection held."""
    pool, source = payments.pool, payments.providers
    while True:
        try:
            outcome = await attempt.call()
        except _NOTHING_HAPPENED as refused:
            failure = failover.refusal(refused)
            following = await in_transaction(
                pool, functools.partial(failover.fail_over, source=source, attempt=attempt,
                                        failure=failure),
            )  # fmt: skip
            if isinstance(following, Attempt):
                attempt = following
                continue
            raise
        # Any other failure (a crash, a cancellation) leaves the claim `processing`, for the
        # reconciler: the provider may have acted.
        if outcome.kind == "pending" and failover.can_fail_over(attempt):
            # The answer was lost and the request may have acted: ask by its reference
            # before any other provider is, and move on only if nothing was taken.
            checked = await attempt.provider.verify(
                reference=attempt.reference, amount=attempt.amount, currency=attempt.currency
            )
            if checked.kind != "declined":
                return await in_transaction(
                    pool, functools.partial(failover.apply_verified, attempt=attempt,
                                            outcome=checked),
                )  # fmt: skip
            failure = failover.lost_answer(outcome, attempt.provider.name)
            following = await in_transaction(
                pool, functools.partial(failover.fail_over, source=source, attempt=attempt,
                                        failure=failure),
            )  # fmt: skip
            if isinstance(following, Attempt):
                attempt = following
                continue
            if following == "exhausted":
                raise ProviderUnreachable(
                    "No provider of this payment's route could take it; nothing was charged. "
                    "Try again."
                )
            outcome = Outcome("pending")  # stale: shown as it now stands
        return await in_transaction(
            pool, functools.partial(intents.apply_attempt, attempt=attempt, outcome=outcome)
        )


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


# -- customers, payment methods, refund updates: one transaction each, no call ---------------


async def create_customer(
    payments: PaymentsState, identity: Identity, request: CustomerRequest
) -> Customer:
    return await in_transaction(
        payments.pool, lambda conn: customers.create_customer(conn, identity, request)
    )


async def update_customer(
    payments: PaymentsState, identity: Identity, customer_id: str, request: UpdateCustomerRequest
) -> Customer:
    return await in_transaction(
        payments.pool,
        lambda conn: customers.update_customer(conn, identity, customer_id, request),
    )


async def delete_customer(
    payments: PaymentsState, identity: Identity, customer_id: str
) -> DeletedCustomer:
    return await in_transaction(
        payments.pool, lambda conn: customers.delete_customer(conn, identity, customer_id)
    )


async def attach_method(
    payments: PaymentsState, identity: Identity, method_id: str, request: AttachRequest
) -> PaymentMethod:
    return await in_transaction(
        payments.pool, lambda conn: customers.attach(conn, identity, method_id, request)
    )


async def detach_method(
    payments: PaymentsState, identity: Identity, method_id: str
) -> PaymentMethod:
    return await in_transaction(
        payments.pool, lambda conn: customers.detach(conn, identity, method_id)
    )


async def update_refund(
    payments: PaymentsState, identity: Identity, refund_id: str, request: UpdateRefundRequest
) -> Refund:
    return await in_transaction(
        payments.pool, lambda conn: refunds.update_refund(conn, identity, refund_id, request)
    )
