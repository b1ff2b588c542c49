"""What happens to a transaction after it is written: post or void a pending one, let it
lapse, or reverse a posted one. Each is a new, immutable record; nothing is edited."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from services.ledger.errors import TransactionNotFoundError, TransactionStateError
from services.ledger.repository import accounts as accounts_repo
from services.ledger.repository import entries as entries_repo
from services.ledger.repository import transactions as transactions_repo
from services.ledger.repository.rows import HoldRow, NewTransaction, TransactionRow
from services.ledger.schemas.transactions import PostRequest, ReverseRequest, Transaction
from services.ledger.service import events as ledger_events
from services.ledger.service.engine import Leg, Plan, account_changes, apply
from services.ledger.service.locking import lock_accounts, refuse_reserved
from services.ledger.service.reading import read_transaction, status_of
from services.ledger.state import LedgerState
from shared.db import Connection, RetryableError, in_transaction
from shared.errors import InvalidRequestError
from shared.identity import Identity
from shared.ids import new_id


async def post_pending(
    ledger: LedgerState, identity: Identity, transaction_id: str, request: PostRequest
) -> Transaction:
    """Post a pending transaction in full, or a two-entry one in part (the rest released)."""
    return await _settling(
        ledger,
        functools.partial(
            _post_pending, identity=identity, transaction_id=transaction_id, request=request
        ),
    )


async def void_pending(ledger: LedgerState, identity: Identity, transaction_id: str) -> Transaction:
    return await _settling(
        ledger, functools.partial(_void_pending, identity=identity, transaction_id=transaction_id)
    )


async def reverse(
    ledger: LedgerState, identity: Identity, transaction_id: str, request: ReverseRequest
) -> Transaction:
    """A new transaction with the opposite entries of a posted one, at most once."""
    return await _settling(
        ledger,
        functools.partial(
            _reverse, identity=identity, transaction_id=transaction_id, request=request
        ),
    )


async def _settling(
    ledger: LedgerState, settle: Callable[..., Awaitable[Transaction]]
) -> Transaction:
    """One database transaction, run again after a deadlock or a concurrent resolution."""
    return await in_transaction(
        ledger.pool,
        functools.partial(settle, events=ledger.settings.transaction_events),
        attempts=ledger.settings.max_retries,
    )


async def _post_pending(
    conn: Connection,
    *,
    identity: Identity,
    transaction_id: str,
    request: PostRequest,
    events: bool,
) -> Transaction:
    pending = await _pending(conn, identity, transaction_id, action="post")
    holds = await _locked_holds(conn, identity, transaction_id)
    if not holds:
        raise RetryableError("resolved concurrently")
    amount = request.amount
    if amount is not None:
        _check_partial(holds, amount)
    posting_id = new_id("txn")
    legs = [_release(hold) for hold in holds] + [
        Leg(hold.account_id, hold.direction, amount or hold.amount, "posted") for hold in holds
    ]
    await _settle(
        conn,
        identity,
        legs,
        NewTransaction(
            id=posting_id,
            reference_id=request.reference_id or f"{pending.reference_id}:post",
            description=pending.description,
            metadata={},
            kind="posting",
            expires_at=None,
            parent_id=transaction_id,
            body_hash=_hash(transaction_id, "post", amount),
        ),
    )
    if not await transactions_repo.resolve(
        conn, pending_id=transaction_id, outcome="posted", posting_id=posting_id
    ):
        raise RetryableError("resolved concurrently")
    posting = await read_transaction(conn, identity, posting_id)
    if events:
        await ledger_events.transaction_settled(conn, identity, "posted", posting)
    return posting


async def _void_pending(
    conn: Connection, *, identity: Identity, transaction_id: str, events: bool
) -> Transaction:
    await _pending(conn, identity, transaction_id, action="void")
    holds = await _locked_holds(conn, identity, transaction_id)
    if not holds:
        raise RetryableError("resolved concurrently")
    await _settle(conn, identity, [_release(hold) for hold in holds], None)
    if not await transactions_repo.resolve(
        conn, pending_id=transaction_id, outcome="voided", posting_id=None
    ):
        raise RetryableError("resolved concurrently")
    voided = await read_transaction(conn, identity, transaction_id)
    if events:
        await ledger_events.transaction_settled(conn, identity, "voided", voided)
    return voided


async def expire_pending(
    conn: Connection, *, tenant_id: str, livemode: bool, transaction_id: str, events: bool = False
) -> bool:
    """Make a lapsed hold final (the sweeper, in its own database transaction). False if
    something else resolved it first."""
    scope = Identity(
        principal="sweeper", principal_type="service", tenant_id=tenant_id, livemode=livemode
    )
    holds = await _locked_holds(conn, scope, transaction_id)
    if not holds:
        return False
    await _settle(conn, scope, [_release(hold) for hold in holds], None)
    if not await transactions_repo.resolve(
        conn, pending_id=transaction_id, outcome="expired", posting_id=None
    ):
        # Posted or voided meanwhile: our release must not commit. The retry finds no holds.
        raise RetryableError("resolved concurrently")
    if events:
        expired = await read_transaction(conn, scope, transaction_id)
        await ledger_events.transaction_settled(conn, scope, "expired", expired)
    return True


async def _reverse(
    conn: Connection,
    *,
    identity: Identity,
    transaction_id: str,
    request: ReverseRequest,
    events: bool,
) -> Transaction:
    original = await transactions_repo.get(
        conn,
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        transaction_id=transaction_id,
    )
    if original is None:
        raise TransactionNotFoundError(transaction_id)
    if original.kind == "pending":
        raise TransactionStateError(
            "A pending transaction is voided, not reversed; reverse its posting instead."
        )
    if original.reversed_by is not None:
        raise TransactionStateError(
            f"Transaction {transaction_id!r} was already reversed by {original.reversed_by!r}.",
            code="transaction_already_reversed",
        )
    entries = await entries_repo.of_transactions(conn, [transaction_id])
    legs = [
        Leg(
            entry.account_id,
            "credit" if entry.direction == "debit" else "debit",
            entry.amount,
            "posted",
            param="id",
        )
        for entry in entries
    ]
    reversal_id = new_id("txn")
    try:
        await _settle(
            conn,
            identity,
            legs,
            NewTransaction(
                id=reversal_id,
                reference_id=request.reference_id or f"{original.reference_id}:reversal",
                description=request.description or f"Reversal of {transaction_id}",
                metadata={},
                kind="reversal",
                expires_at=None,
                parent_id=transaction_id,
                body_hash=_hash(transaction_id, "reverse", None),
            ),
        )
    except asyncpg.UniqueViolationError:
        raise TransactionStateError(
            f"Transaction {transaction_id!r} was already reversed.",
            code="transaction_already_reversed",
        ) from None
    reversal = await read_transaction(conn, identity, reversal_id)
    if events:
        await ledger_events.transaction_settled(conn, identity, "reversed", reversal)
    return reversal


async def _pending(
    conn: Connection, identity: Identity, transaction_id: str, *, action: str
) -> TransactionRow:
    found = await transactions_repo.get(
        conn,
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        transaction_id=transaction_id,
    )
    if found is None:
        raise TransactionNotFoundError(transaction_id)
    if found.kind != "pending":
        raise TransactionStateError(f"Only a pending transaction can be {action}ed.")
    status = status_of(found)
    if status != "pending":
        raise TransactionStateError(
            f"Transaction {transaction_id!r} is {status} and can no longer be {action}ed.",
            code=f"transaction_{status}",
        )
    return found


async def _locked_holds(conn: Connection, identity: Identity, transaction_id: str) -> list[HoldRow]:
    """A pending transaction's holds, read again once their accounts are locked. Two
    resolutions may start on one hold at once (two sweepers in two replicas, a post racing
    the sweeper); each locks the accounts before it resolves, so what is read after the lock
    is what committed: no holds left means another resolution won, and releasing them again
    would take the pending totals below zero."""
    holds = await transactions_repo.holds_of(conn, transaction_id)
    if not holds:
        return holds
    await lock_accounts(
        conn,
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        refs=[hold.account_id for hold in holds],
    )
    return await transactions_repo.holds_of(conn, transaction_id)


async def _settle(
    conn: Connection, identity: Identity, legs: list[Leg], transaction: NewTransaction | None
) -> None:
    """Lock the accounts, apply the legs, write the new transaction and the totals."""
    states, _ = await lock_accounts(
        conn,
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        refs=[leg.account_id for leg in legs],
    )
    # Posting, voiding or reversing what payments or the wallet wrote is theirs to do.
    refuse_reserved(identity, states.values(), param="id")
    original = {account_id: state.snapshot() for account_id, state in states.items()}
    plan = Plan()
    apply(transaction.id if transaction else "", legs, states, plan)
    if transaction is not None:
        written = await transactions_repo.insert(
            conn,
            tenant_id=identity.tenant_scope,
            livemode=identity.livemode,
            transactions=[transaction],
            entries=plan.entries,
            holds=plan.holds,
        )
        if transaction.id not in written:
            raise InvalidRequestError(
                f"reference_id {transaction.reference_id!r} is already used.",
                code="reference_conflict",
                param="reference_id",
                status=409,
            )
    await accounts_repo.apply_changes(conn, account_changes(states, original))


def _release(hold: HoldRow) -> Leg:
    return Leg(hold.account_id, hold.direction, hold.amount, "release")


def _check_partial(holds: Sequence[HoldRow], amount: int) -> None:
    if len(holds) != 2 or holds[0].amount != holds[1].amount:
        raise InvalidRequestError(
            "A partial amount can only post a two-entry pending transaction; "
            "post it in full instead.",
            code="partial_post_unsupported",
            param="amount",
        )
    if amount > holds[0].amount:
        raise InvalidRequestError(
            f"amount {amount} is more than the {holds[0].amount} held.",
            code="amount_too_large",
            param="amount",
        )


def _hash(transaction_id: str, action: str, amount: int | None) -> str:
    return hashlib.sha256(f"{transaction_id}:{action}:{amount}".encode()).hexdigest()
