"""Creating transactions: one code path for a single request and for a batch of 1,000.

Per batch, two statements: look up the references already used (replays) and lock every
account the items touch, in id order, in one; apply the items one after another in memory
(linked chains succeed or fail together); then write all transactions, entries and holds
with one summed update per account, in the other. The caller's database transaction makes
it all-or-nothing on the server side.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from services.ledger import metrics
from services.ledger.errors import (
    AccountNotFoundError,
    ReferenceConflictError,
    ReservedAccountError,
)
from services.ledger.repository import transactions as transactions_repo
from services.ledger.repository.rows import NewTransaction
from services.ledger.schemas.transactions import Entry, Transaction, TransactionRequest
from services.ledger.service import events as ledger_events
from services.ledger.service.engine import (
    AccountState,
    Leg,
    Plan,
    account_changes,
    apply,
    check_balanced,
)
from services.ledger.service.locking import lock_accounts_and_references, may_touch_reserved
from services.ledger.service.reading import read_transaction
from services.ledger.state import LedgerState
from shared.db import Connection, RetryableError, in_transaction, transaction
from shared.errors import InvalidRequestError, MicroError
from shared.identity import Identity
from shared.ids import new_id


@dataclass(slots=True)
class ItemResult:
    status: Literal["created", "exists", "failed"]
    transaction: Transaction | None = None
    transaction_id: str | None = None
    error: MicroError | None = None


class LinkedEventFailed(InvalidRequestError):
    def __init__(self) -> None:
        super().__init__(
            "Another transaction in this linked chain failed.", code="linked_event_failed"
        )


class ChainOpen(InvalidRequestError):
    def __init__(self) -> None:
        super().__init__(
            "The last transaction is linked to nothing: a chain must end with linked=false.",
            code="linked_event_chain_open",
            param="linked",
        )


@dataclass(frozen=True, slots=True)
class Recorded:
    transaction: Transaction
    # The reference was used before, with this same body: this is that first transaction.
    replayed: bool


async def create_transaction(
    ledger: LedgerState, identity: Identity, item: TransactionRequest
) -> Recorded:
    """One transaction, combined with concurrent ones into a shared database transaction
    (`coalescer`); a replayed reference answers with the original."""
    if item.linked:
        raise InvalidRequestError(
            "linked applies to batch items only.", code="parameter_invalid", param="linked"
        )
    result = await ledger.coalescer.submit(identity, item)
    metrics.answered([result.status], livemode=identity.livemode)
    if result.status == "failed":
        assert result.error is not None
        raise result.error
    if result.status == "created":
        assert result.transaction is not None
        return Recorded(result.transaction, replayed=False)
    async with transaction(ledger.pool) as conn:
        original = await read_transaction(conn, identity, result.transaction_id or "")
    return Recorded(original, replayed=True)


async def post_batch(
    ledger: LedgerState, identity: Identity, items: list[TransactionRequest]
) -> list[ItemResult]:
    """Up to `max_batch_size` items in one database transaction, one result each, in order."""
    settings = ledger.settings
    if len(items) > settings.max_batch_size:
        raise InvalidRequestError(
            f"At most {settings.max_batch_size} transactions per batch.", param="transactions"
        )
    results = await in_transaction(
        ledger.pool,
        functools.partial(
            post_transactions,
            identity=identity,
            items=items,
            render=False,
            events=settings.transaction_events,
        ),
        attempts=settings.max_retries,
    )
    metrics.answered([result.status for result in results], livemode=identity.livemode)
    return results


async def post_transactions(
    conn: Connection,
    identity: Identity,
    items: list[TransactionRequest],
    *,
    render: bool = True,
    events: bool = False,
) -> list[ItemResult]:
    """In the caller's database transaction (the coalescer's, a batch's). `render`: build each
    created transaction for the answer (a batch only needs ids); `events`: write a
    `ledger.transaction.created` for each one."""
    tenant_id, livemode = identity.tenant_scope, identity.livemode
    internal = may_touch_reserved(identity)
    results: list[ItemResult | None] = [None] * len(items)
    hashes = [item.body_hash() for item in items]
    # One round trip: the references already used, and the accounts of every item whose
    # reference is new in this batch, locked (a replay's accounts, locked for nothing, are
    # rare; reading the references first would cost a round trip on every posting).
    fresh: dict[str, int] = {}
    for index, item in enumerate(items):
        fresh.setdefault(item.reference_id, index)
    states, by_ref, existing = await lock_accounts_and_references(
        conn,
        tenant_id=tenant_id,
        livemode=livemode,
        refs={entry.account_id for index in fresh.values() for entry in items[index].entries},
        references=list(fresh),
    )
    first_use: dict[str, int] = {}
    for index, item in enumerate(items):
        ref = item.reference_id
        if ref in existing:
            txn_id, body_hash = existing[ref]
            results[index] = (
                ItemResult("exists", transaction_id=txn_id)
                if body_hash == hashes[index]
                else ItemResult("failed", error=ReferenceConflictError(ref))
            )
        elif ref in first_use:
            same = hashes[first_use[ref]] == hashes[index]
            results[index] = (
                ItemResult("exists")
                if same
                else ItemResult("failed", error=ReferenceConflictError(ref))
            )
        else:
            first_use[ref] = index

    original = {account_id: state.snapshot() for account_id, state in states.items()}
    plan = Plan()
    planned: list[tuple[int, NewTransaction]] = []
    now = datetime.now(UTC)

    for chain in _chains(items):
        # A lone item undoes itself on failure (engine.apply); a chain must undo its members.
        chain_states = (
            {
                account_id: states[account_id].snapshot()
                for index in chain
                for entry in items[index].entries
                if (account_id := by_ref.get(entry.account_id)) is not None
            }
            if len(chain) > 1
            else {}
        )
        entries_mark, holds_mark, planned_mark = len(plan.entries), len(plan.holds), len(planned)
        failure: int | None = None
        if items[chain[-1]].linked:
            failure = chain[-1]
            results[failure] = ItemResult("failed", error=ChainOpen())
        for index in chain:
            if failure is not None:
                break
            result = results[index]
            if result is not None:
                if result.status == "failed":
                    failure = index
                continue
            try:
                txn = _plan_item(
                    items[index], hashes[index], states, by_ref, plan, now, internal=internal
                )
            except MicroError as exc:
                results[index] = ItemResult("failed", error=exc)
                failure = index
                continue
            planned.append((index, txn))
        if failure is not None and len(chain) > 1:
            for account_id, values in chain_states.items():
                states[account_id].restore(values)
            del plan.entries[entries_mark:]
            del plan.holds[holds_mark:]
            del planned[planned_mark:]
            for index in chain:
                if index != failure:
                    results[index] = ItemResult("failed", error=LinkedEventFailed())

    new = [txn for _, txn in planned]
    written = await transactions_repo.insert(
        conn,
        tenant_id=tenant_id,
        livemode=livemode,
        transactions=new,
        entries=plan.entries,
        holds=plan.holds,
        account_changes=account_changes(states, original),
    )
    if set(written) != {txn.id for txn in new}:
        # Another request took one of these references after we looked: start over (the
        # accounts' update in that statement rolls back with it), and the replay check
        # will see it.
        raise RetryableError("reference taken concurrently")
    if events:
        await ledger_events.transactions_created(conn, identity, new, plan.entries, written)

    for index, txn in planned:
        results[index] = ItemResult("created", transaction_id=txn.id)
    if render:
        _render(results, planned, plan, written, livemode)
    _point_repeats_at_first_use(items, results, first_use)
    return [result for result in results if result is not None]


def _render(
    results: list[ItemResult | None],
    planned: list[tuple[int, NewTransaction]],
    plan: Plan,
    written: dict[str, datetime],
    livemode: bool,
) -> None:
    entries_by_txn: dict[str, list[Entry]] = {}
    for entry in plan.entries:
        entries_by_txn.setdefault(entry.transaction_id, []).append(
            Entry(
                id=entry.id,
                transaction_id=entry.transaction_id,
                account_id=entry.account_id,
                direction="debit" if entry.direction == "debit" else "credit",
                amount=entry.amount,
                currency=entry.currency,
                pending=entry.pending,
                balance_after=entry.balance_after,
                version_after=entry.version_after,
                created=int(written[entry.transaction_id].timestamp()),
            )
        )
    for index, txn in planned:
        results[index] = ItemResult(
            "created",
            transaction_id=txn.id,
            transaction=Transaction(
                id=txn.id,
                reference_id=txn.reference_id,
                description=txn.description,
                metadata=txn.metadata,
                kind="pending" if txn.kind == "pending" else "standard",
                status="pending" if txn.kind == "pending" else "posted",
                expires_at=int(txn.expires_at.timestamp()) if txn.expires_at else None,
                parent_id=None,
                posted_by=None,
                reversed_by=None,
                entries=entries_by_txn.get(txn.id, []),
                livemode=livemode,
                created=int(written[txn.id].timestamp()),
            ),
        )


def _point_repeats_at_first_use(
    items: list[TransactionRequest], results: list[ItemResult | None], first_use: dict[str, int]
) -> None:
    """A repeat of a reference first used in this same batch points at that transaction."""
    for index, item in enumerate(items):
        result = results[index]
        if result is not None and result.status == "exists" and result.transaction_id is None:
            first = results[first_use[item.reference_id]]
            assert first is not None
            result.transaction_id = first.transaction_id
            if first.status != "created":
                results[index] = first


def _chains(items: list[TransactionRequest]) -> list[list[int]]:
    chains: list[list[int]] = []
    current: list[int] = []
    for index, item in enumerate(items):
        current.append(index)
        if not item.linked:
            chains.append(current)
            current = []
    if current:
        chains.append(current)
    return chains


def _plan_item(
    item: TransactionRequest,
    body_hash: str,
    states: dict[str, AccountState],
    by_ref: dict[str, str],
    plan: Plan,
    now: datetime,
    *,
    internal: bool,
) -> NewTransaction:
    if item.pending and item.expires_at is not None and item.expires_at <= now:
        raise InvalidRequestError(
            "expires_at must be in the future.", code="parameter_invalid", param="expires_at"
        )
    legs = []
    for position, entry in enumerate(item.entries):
        account_id = by_ref.get(entry.account_id)
        if account_id is None:
            raise AccountNotFoundError(entry.account_id, param=f"entries[{position}][account_id]")
        if states[account_id].reserved and not internal:
            raise ReservedAccountError(entry.account_id, param=f"entries[{position}][account_id]")
        legs.append(
            Leg(
                account_id=account_id,
                direction=entry.direction,
                amount=entry.amount,
                effect="hold" if item.pending else "posted",
                param=f"entries[{position}]",
            )
        )
    check_balanced(legs, states)
    txn_id = new_id("txn")
    apply(txn_id, legs, states, plan)
    return NewTransaction(
        id=txn_id,
        reference_id=item.reference_id,
        description=item.description,
        metadata=item.metadata,
        kind="pending" if item.pending else "standard",
        expires_at=item.expires_at,
        parent_id=None,
        body_hash=body_hash,
    )
