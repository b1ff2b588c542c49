"""Refunds: full or partial, never more than was received; each owes the ledger its reverse.

pending -> succeeded | failed (Stripe's statuses). Over the simulator a refund succeeds at
once, in one transaction. Through Paystack or Flutterwave it is made in steps (see
`service/steps.py`): claimed `pending` and announced (`refund.created`) in the transaction
that locks its payment, its amount held (what is left to refund counts pending refunds);
the provider asked with no connection held; its answer applied by `settle` in a second
transaction, as are its webhooks and the reconciler's re-verification later. The ledger is
owed the refund's posting only when the provider confirms, once; a failed refund carries its
`failure_reason` and frees its amount for another try.

A provider that refuses the refund outright (a 4xx) fails it (`declined`, with the
provider's message) and the request answers the failed refund, as Stripe answers a refund
that failed; one that never answers leaves it pending, for its webhook or the reconciler;
one that cannot be reached at all did nothing: the refund fails (`unknown`) and the request
answers the 502.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.payments.errors import PaymentIntentNotFoundError
from services.payments.providers.base import Provider, RefundOutcome
from services.payments.providers.simulator import Simulator
from services.payments.repository import intents as intents_repo
from services.payments.repository import outbox as outbox_repo
from services.payments.repository import refunds as refunds_repo
from services.payments.repository.intents import IntentRow
from services.payments.repository.refunds import RefundRow
from services.payments.repository.simulator_journal import SimulatorJournal
from services.payments.schemas import Refund, RefundRequest, UpdateRefundRequest
from services.payments.service import events
from services.payments.service.changes import Changed
from services.payments.service.customers import merged_metadata
from services.payments.service.keys import creation_key, key_reused, rerun_key
from services.payments.service.ledger_reader import LedgerAccounts
from services.payments.service.lifecycle import check_action, current_reference
from services.payments.service.provider_accounts import ProviderNotConfiguredError, ProviderSource
from shared.db import Connection, Pool, transaction
from shared.errors import InvalidRequestError, MicroError, NotFoundError
from shared.identity import Identity
from shared.ids import new_id
from shared.ledger_contract import Posting, balance_code, clearing_code, wallet_code
from shared.pagination import ListParams, page


@dataclass(frozen=True, slots=True)
class WalletDebit:
    """A refund of a payment into a wallet comes out of that wallet."""

    tenant_id: str
    livemode: bool
    wallet_id: str
    amount: int


async def check_refund(
    conn: Connection, identity: Identity, request: RefundRequest
) -> WalletDebit | None:
    """The checks `create_refund` makes, ahead of it (same errors, same order), and the
    wallet debit the ledger must be asked about before the refund's own transaction."""
    intent, amount = await _refundable(conn, identity, request, lock=False)
    if not intent.wallet_id:
        return None
    return WalletDebit(intent.tenant_id, intent.livemode, intent.wallet_id, amount)


async def made_by_dead_run(conn: Connection, identity: Identity) -> Refund | None:
    """The refund this request's first run made, when that run died before answering (its
    checks would now see the money gone, and refuse)."""
    key = rerun_key(identity)
    if key is None:
        return None
    found = await refunds_repo.get_refund_by_key(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, idempotency_key=key
    )
    return None if found is None else Refund.from_row(found)


@dataclass(frozen=True, slots=True)
class RefundCall:
    """A refund claimed `pending` and committed (its amount held): what to ask its provider,
    with no connection held."""

    refund_id: str
    provider: Provider
    reference: str
    amount: int
    currency: str

    async def call(self) -> RefundOutcome:
        return await self.provider.refund(
            refund_id=self.refund_id, reference=self.reference, amount=self.amount,
            currency=self.currency,
        )  # fmt: skip


async def create_refund(
    conn: Connection, identity: Identity, request: RefundRequest, providers: ProviderSource
) -> Changed[Refund] | RefundCall:
    """The refund, in the transaction that locks its payment (the wallet's funds were asked
    of the ledger before it, by `check_refund` and `check_wallet_funds`). Over the simulator
    it succeeds at once, with the posting it owes the ledger. Through a real provider it is
    claimed `pending` and announced (`refund.created`): the call to make is returned, and
    nothing is owed the ledger until the provider confirms."""
    intent, amount = await _refundable(conn, identity, request, lock=True)
    provider: Provider | None
    if intent.provider == "simulator":
        # It writes the refund down in its own book (reconciled against later).
        provider = Simulator(
            SimulatorJournal(conn, tenant_id=intent.tenant_id, livemode=intent.livemode)
        )
    else:
        provider = await providers.of(
            conn, tenant_id=intent.tenant_id, livemode=intent.livemode,
            provider=intent.provider, owner=intent.provider_account,
        )  # fmt: skip
        if provider is None:
            raise ProviderNotConfiguredError(
                f"The {intent.provider} account this payment went through is no longer "
                "configured: its money cannot be sent back through it."
            )
    refund_id = new_id("re")
    reference = current_reference(intent)
    # Computed here, without I/O, over the simulator: one transaction.
    outcome = (
        await provider.refund(
            refund_id=refund_id, reference=reference, amount=amount, currency=intent.currency
        )
        if provider.in_process
        else RefundOutcome("pending")
    )
    row = await refunds_repo.insert_refund(
        conn,
        refund_id=refund_id,
        tenant_id=intent.tenant_id,
        livemode=intent.livemode,
        intent_id=intent.id,
        amount=amount,
        currency=intent.currency,
        reason=request.reason,
        metadata=request.metadata,
        idempotency_key=creation_key(identity),
        provider=intent.provider,
        status=outcome.kind,
    )
    if row is None:
        # A rerun found its first run's refund before the checks (`made_by_dead_run`): the
        # key came back for another request after its stored answer was purged.
        raise key_reused()
    await _announce(conn, "refund.created", row)
    if not provider.in_process:
        # Committed before the provider is asked: a crash leaves it `pending`, which the
        # reconciler verifies (by the provider's id once known; its webhook otherwise).
        return RefundCall(refund_id, provider, reference, amount, intent.currency)
    # The simulator's refund completed at once: created and succeeded together.
    await _announce(conn, "refund.updated", row)
    await _announce(conn, "refund.succeeded", row)
    owes = await _post(conn, row, intent)
    return Changed(Refund.from_row(row), owes=owes)


async def apply_refund(
    conn: Connection, call: RefundCall, outcome: RefundOutcome
) -> Changed[Refund]:
    """The provider's answer to a refund's create call, through the same rules as its later
    word (a webhook may have settled it meanwhile: final states stay final)."""
    row = await refunds_repo.lock_refund_by_id(conn, call.refund_id)
    assert row is not None  # refunds are never deleted
    change, _ = await settle(conn, row, outcome)
    return change


async def refuse_refund(conn: Connection, call: RefundCall, error: MicroError) -> None:
    """The provider was never reached (or refused before any refund could exist): nothing
    happened, so the refund fails at once and its amount is free again; the request answers
    the error."""
    row = await refunds_repo.lock_refund_by_id(conn, call.refund_id)
    assert row is not None
    refused = RefundOutcome("failed", failure_reason="unknown", message=error.message)
    await settle(conn, row, refused)


async def settle(
    conn: Connection, row: RefundRow, outcome: RefundOutcome
) -> tuple[Changed[Refund], str]:
    """Apply a provider's word to a locked refund: (the change, what was done). Any order
    is tolerated: a pending refund takes a final answer once; a final one never changes
    again (a late `pending` after `processed` changes nothing, a duplicate neither), so the
    ledger is owed the refund's posting exactly once, when it succeeded."""
    if row.status != "pending":
        return Changed(Refund.from_row(row)), f"ignored_{row.status}"
    if outcome.kind == "pending":
        if outcome.provider_id and row.provider_refund_id is None:
            # Its id is what its verify call and its webhooks name it by.
            row = await refunds_repo.update_refund(
                conn, row.id, status="pending", provider_refund_id=outcome.provider_id,
                failure_reason=None,
            )  # fmt: skip
        return Changed(Refund.from_row(row)), "still_pending"
    failed = outcome.kind == "failed"
    updated = await refunds_repo.update_refund(
        conn,
        row.id,
        status=outcome.kind,
        provider_refund_id=outcome.provider_id,
        failure_reason=(outcome.failure_reason or "unknown") if failed else None,
    )
    await _announce(conn, "refund.updated", updated)
    await _announce(conn, "refund.failed" if failed else "refund.succeeded", updated)
    owes: tuple[str, ...] = ()
    if not failed:
        intent = await intents_repo.get_intent(
            conn, tenant_id=row.tenant_id, livemode=row.livemode, intent_id=row.payment_intent_id
        )
        assert intent is not None
        owes = await _post(conn, updated, intent)
    return Changed(Refund.from_row(updated), owes=owes), outcome.kind


async def fail_refused_posting(conn: Connection, refund_id: str, *, code: str) -> Refund | None:
    """The ledger refused a simulator refund's posting for good (the wallet it comes out of
    was emptied between the funds check and the posting): no money went anywhere, so the
    refund ends `failed` with the reason, its amount free again, instead of a posting that
    waits for an operator while the refund says it succeeded. A provider's refund that
    succeeded did give the money back: it stays succeeded (the refused posting is the
    operator's, as any other). None when nothing changed."""
    row = await refunds_repo.lock_refund_by_id(conn, refund_id)
    if row is None or row.status != "succeeded" or row.provider != "simulator":
        return None
    reason = "insufficient_funds" if code == "insufficient_funds" else "unknown"
    updated = await refunds_repo.update_refund(
        conn, row.id, status="failed", provider_refund_id=None, failure_reason=reason
    )
    await _announce(conn, "refund.updated", updated)
    await _announce(conn, "refund.failed", updated)
    return Refund.from_row(updated)


async def _post(conn: Connection, row: RefundRow, intent: IntentRow) -> tuple[str, ...]:
    """The posting a succeeded refund owes the ledger (written once: only a pending refund
    becomes succeeded, under its row lock)."""
    currency = intent.currency
    posting = Posting(
        reference_id=row.id,
        description=f"Refund {row.id} of {intent.id}",
        metadata={"payment_intent": intent.id, "refund": row.id},
        # Paid into a wallet: the refund comes out of that wallet's account.
        debit=wallet_code(intent.wallet_id) if intent.wallet_id else balance_code(currency),
        credit=clearing_code(currency),
        amount=row.amount,
        currency=currency,
    )
    await outbox_repo.insert_outbox(
        conn,
        outbox_id=new_id("obx"),
        tenant_id=intent.tenant_id,
        livemode=intent.livemode,
        reference_id=posting.reference_id,
        body=posting.body(),
        currency=posting.currency,
    )
    return (posting.reference_id,)


async def _announce(conn: Connection, type: str, row: RefundRow) -> None:
    await events.emit(
        conn, type, Refund.from_row(row), tenant_id=row.tenant_id, livemode=row.livemode
    )


async def _refundable(
    conn: Connection, identity: Identity, request: RefundRequest, *, lock: bool
) -> tuple[IntentRow, int]:
    """The payment and the amount to give back, or the error that refuses the refund."""
    fetch = intents_repo.lock_intent if lock else intents_repo.get_intent
    intent = await fetch(
        conn,
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        intent_id=request.payment_intent,
    )
    if intent is None:
        raise PaymentIntentNotFoundError(request.payment_intent)
    check_action(intent, "refund")
    # With the intent row locked, concurrent refunds of one payment are counted one by one.
    refundable = intent.amount_received - await refunds_repo.refunded_total(conn, intent.id)
    amount = request.amount or refundable
    if refundable <= 0:
        raise InvalidRequestError(
            f"PaymentIntent {intent.id!r} has already been refunded in full.",
            code="charge_already_refunded",
            param="payment_intent",
        )
    if amount > refundable:
        raise InvalidRequestError(
            f"Refund amount {amount} is greater than the {refundable} left to refund.",
            code="amount_too_large",
            param="amount",
        )
    return intent, amount


async def check_wallet_funds(ledger: LedgerAccounts, debit: WalletDebit) -> None:
    """A payment into a wallet is refunded out of that wallet, which may not go below zero:
    refuse now rather than leave a posting the ledger will never take. (Asked before the
    refund's transaction, so never while a row is locked; the amount only shrinks between
    the two, as other refunds land, so a wallet that covers it here covers the refund.)"""
    account = await ledger.get_account(
        tenant_id=debit.tenant_id, livemode=debit.livemode, code=wallet_code(debit.wallet_id)
    )
    available = int((account or {}).get("balance", {}).get("available", 0))
    if available < debit.amount:
        raise InvalidRequestError(
            f"The wallet holds {available}, less than the {debit.amount} to refund.",
            code="insufficient_funds",
            param="amount",
        )


async def list_refunds(
    pool: Pool, identity: Identity, *, params: ListParams, intent_id: str | None
) -> tuple[list[Refund], bool]:
    async with transaction(pool) as conn:
        rows = await refunds_repo.list_refunds(
            conn,
            tenant_id=identity.tenant_scope,
            livemode=identity.livemode,
            params=params,
            intent_id=intent_id,
        )
    shown, has_more = page(rows, params)
    return [Refund.from_row(row) for row in shown], has_more


async def update_refund(
    conn: Connection, identity: Identity, refund_id: str, request: UpdateRefundRequest
) -> Refund:
    """Only its metadata changes (as Stripe's refunds): merged, a key sent empty removed."""
    row = await refunds_repo.lock_refund(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, refund_id=refund_id
    )
    if row is None:
        raise _not_found(refund_id)
    if request.metadata is None:
        return Refund.from_row(row)
    metadata = merged_metadata(row.metadata, request.metadata)
    if metadata == row.metadata:
        return Refund.from_row(row)
    updated = await refunds_repo.update_metadata(conn, row.id, metadata)
    await _announce(conn, "refund.updated", updated)
    return Refund.from_row(updated)


def _not_found(refund_id: str) -> NotFoundError:
    return NotFoundError(f"No such refund: {refund_id!r}.", param="id")


async def get_refund(pool: Pool, identity: Identity, refund_id: str) -> Refund:
    async with transaction(pool) as conn:
        row = await refunds_repo.get_refund(
            conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, refund_id=refund_id
        )
    if row is None:
        raise _not_found(refund_id)
    return Refund.from_row(row)
