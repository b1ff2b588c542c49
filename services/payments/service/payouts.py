"""Payouts: money from a tenant's balance (or a wallet) to a bank account, via a provider.

pending -> paid | failed, from the provider's answer, its transfer webhooks, or a later
re-verification. A payout owes the ledger its posting when it is paid (the tenant's balance
goes down, the clearing account with it), through the same outbox as payments; one paid
and then reversed by the bank gets the opposite posting. A wallet's payout posts nothing:
the wallet service holds and settles that money itself.

Through a real provider a payout is made in steps (see `service/steps.py`): it is recorded
`pending` and announced (`payout.created`) and committed, the transfer is asked for with
no connection held, and `apply_transfer` applies the answer in a second transaction. The
simulator answers in-process, so its payouts stay one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.payments.providers.base import BankAccount, Provider, TransferOutcome
from services.payments.repository import outbox as outbox_repo
from services.payments.repository import payouts as payouts_repo
from services.payments.repository.payouts import PayoutRow
from services.payments.schemas import Payout, PayoutRequest
from services.payments.service import events
from services.payments.service.changes import Changed
from services.payments.service.keys import creation_key, key_reused, rerun_key
from services.payments.service.provider_accounts import ProviderSource
from shared.db import Connection, Pool, transaction
from shared.errors import MicroError, NotFoundError
from shared.identity import Identity
from shared.ids import new_id
from shared.ledger_contract import Posting, balance_code, clearing_code
from shared.pagination import ListParams, page

_EVENTS = {"paid": "payout.paid", "failed": "payout.failed"}


@dataclass(frozen=True, slots=True)
class Transfer:
    """A payout recorded `pending` and committed: the transfer to ask its provider for,
    with no connection held."""

    payout_id: str
    provider: Provider
    amount: int
    currency: str
    destination: BankAccount
    description: str | None

    async def call(self) -> TransferOutcome:
        return await self.provider.transfer(
            payout_id=self.payout_id, amount=self.amount, currency=self.currency,
            destination=self.destination, description=self.description,
        )  # fmt: skip


async def create_payout(
    conn: Connection, identity: Identity, request: PayoutRequest, providers: ProviderSource
) -> Changed[Payout] | Transfer:
    """The payout made (with the posting it owes the ledger, if paid), or the transfer
    still to ask a real provider for."""
    if (key := rerun_key(identity)) is not None:
        found = await payouts_repo.get_payout_by_key(
            conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, idempotency_key=key
        )
        if found is not None:  # made by this request's first run, which died answering;
            # a pending one is the reconciler's to verify by its id
            return Changed(Payout.from_row(found))
    provider, owner = await providers.choose(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, provider=request.provider
    )
    payout_id = new_id("po")
    destination = request.destination
    transfer = Transfer(
        payout_id=payout_id,
        provider=provider,
        amount=request.amount,
        currency=request.currency,
        destination=BankAccount(
            destination.account_number, destination.bank_code, destination.account_name
        ),
        description=request.description,
    )
    # Computed here, without I/O, when the provider is the simulator: one transaction.
    outcome = await transfer.call() if provider.in_process else TransferOutcome("pending")
    key = creation_key(identity)
    row = await payouts_repo.insert_payout(
        conn,
        id=payout_id,
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        amount=request.amount,
        currency=request.currency,
        status=outcome.kind,
        provider=request.provider,
        destination=destination.model_dump(),
        description=request.description,
        metadata=request.metadata,
        failure_code=outcome.failure_code,
        failure_message=outcome.failure_message,
        provider_account=owner,
        provider_transfer_id=outcome.provider_id,
        wallet_id=request.wallet_id,
        idempotency_key=key,
    )
    if row is None:
        # A rerun found its first run's payout above: the key came back for another
        # request after its stored answer was purged.
        raise key_reused()
    await _announce(conn, "payout.created", row)
    if not provider.in_process:
        # Committed before the provider is asked: a crash leaves it `pending`, which the
        # reconciler verifies by the payout's id (the transfer's reference).
        return transfer
    owes: tuple[str, ...] = ()
    if outcome.kind in _EVENTS:
        await _announce(conn, _EVENTS[outcome.kind], row)
    if outcome.kind == "paid":
        owes = await _post(conn, row, reverse=False)
    return Changed(Payout.from_row(row), owes=owes)


async def apply_transfer(
    conn: Connection, transfer: Transfer, outcome: TransferOutcome
) -> Changed[Payout]:
    """The provider's answer to a payout's transfer, through the same rules as its later
    word (a webhook may have settled it meanwhile: final states stay final)."""
    row = await payouts_repo.lock_payout(conn, transfer.payout_id)
    assert row is not None  # payouts are never deleted
    row = await remember_transfer_id(conn, row, outcome)
    change, _ = await settle(conn, row, outcome)
    return change


async def remember_transfer_id(
    conn: Connection, row: PayoutRow, outcome: TransferOutcome
) -> PayoutRow:
    """The provider's own id for the transfer, kept once known: Flutterwave's verify call
    needs it, pending or not."""
    if not outcome.provider_id or row.provider_transfer_id is not None:
        return row
    return await payouts_repo.update_payout(
        conn, row.id, status=row.status, failure_code=row.failure_code,
        failure_message=row.failure_message, provider_transfer_id=outcome.provider_id,
    )  # fmt: skip


async def refuse_transfer(conn: Connection, transfer: Transfer, error: MicroError) -> None:
    """The provider refused the transfer itself (or was never reached): no money moved, so
    the payout fails with the provider's reason (and the request answers that error)."""
    row = await payouts_repo.lock_payout(conn, transfer.payout_id)
    assert row is not None
    refused = TransferOutcome("failed", failure_code=error.code, failure_message=error.message)
    await settle(conn, row, refused)


async def settle(
    conn: Connection, row: PayoutRow, outcome: TransferOutcome
) -> tuple[Changed[Payout], str]:
    """Apply a provider's later word to a locked payout: (the change, what was done). Final
    states stay final, except a paid transfer the bank reversed."""
    status = row.status
    reversal = status == "paid" and outcome.kind == "failed" and outcome.reversed
    if outcome.kind == "pending" or (status != "pending" and not reversal):
        return (
            Changed(Payout.from_row(row)),
            "still_pending" if status == "pending" else (f"ignored_{status}"),
        )
    updated = await payouts_repo.update_payout(
        conn,
        row.id,
        status=outcome.kind,
        failure_code=outcome.failure_code,
        failure_message=outcome.failure_message,
        provider_transfer_id=outcome.provider_id,
    )
    await _announce(conn, _EVENTS[outcome.kind], updated)
    owes: tuple[str, ...] = ()
    if outcome.kind == "paid":
        owes = await _post(conn, updated, reverse=False)
    elif reversal:
        # The balance was already debited when it was paid: give it back.
        owes = await _post(conn, updated, reverse=True)
    return Changed(Payout.from_row(updated), owes=owes), "reversed" if reversal else outcome.kind


async def _post(conn: Connection, row: PayoutRow, *, reverse: bool) -> tuple[str, ...]:
    """The posting a paid (or reversed) payout owes the ledger: its reference, or none for
    a wallet's payout."""
    if row.wallet_id:
        return ()
    payout_id, currency = row.id, row.currency
    posting = Posting(
        reference_id=payout_id,
        description=f"Payout {payout_id}",
        metadata={"payout": payout_id},
        debit=balance_code(currency),
        credit=clearing_code(currency),
        amount=row.amount,
        currency=currency,
    )
    if reverse:
        posting = posting.reversed(
            reference_id=f"{payout_id}.reversal", description=f"Payout {payout_id} reversed"
        )
    await outbox_repo.insert_outbox(
        conn,
        outbox_id=new_id("obx"),
        tenant_id=row.tenant_id,
        livemode=row.livemode,
        reference_id=posting.reference_id,
        body=posting.body(),
        currency=posting.currency,
    )
    return (posting.reference_id,)


async def _announce(conn: Connection, type: str, row: PayoutRow) -> None:
    await events.emit(
        conn, type, Payout.from_row(row), tenant_id=row.tenant_id, livemode=row.livemode
    )


async def list_payouts(
    pool: Pool,
    identity: Identity,
    *,
    params: ListParams,
    wallet_id: str | None = None,
    status: str | None = None,
) -> tuple[list[Payout], bool]:
    async with transaction(pool) as conn:
        rows = await payouts_repo.list_payouts(
            conn,
            tenant_id=identity.tenant_scope,
            livemode=identity.livemode,
            params=params,
            wallet_id=wallet_id,
            status=status,
        )
    shown, has_more = page(rows, params)
    return [Payout.from_row(row) for row in shown], has_more


async def get_payout(pool: Pool, identity: Identity, payout_id: str) -> Payout:
    async with transaction(pool) as conn:
        row = await payouts_repo.get_payout(
            conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, payout_id=payout_id
        )
    if row is None:
        raise NotFoundError(f"No such payout: {payout_id!r}.", param="id")
    return Payout.from_row(row)
