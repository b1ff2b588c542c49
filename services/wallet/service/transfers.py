"""Transfers: one atomic ledger transaction between two wallets of a tenant.

The ledger refuses a transfer the source cannot cover (its account has no overdraft), so
"enough funds" is decided where the money is, under its lock, never by reading a balance
here first: concurrent transfers can never take a wallet below zero.
"""

from __future__ import annotations

from services.wallet.errors import (
    CurrencyMismatchError,
    InsufficientFundsError,
    WalletFrozenError,
)
from services.wallet.repository.operations import OperationRow
from services.wallet.repository.wallets import WalletRow
from services.wallet.schemas import TransferRequest, WalletOperation
from services.wallet.service import access, operations
from services.wallet.state import WalletState
from shared.db import transaction
from shared.identity import Identity
from shared.internal_client import Refused, Unavailable
from shared.ledger_contract import Posting, wallet_code


async def transfer(
    state: WalletState, identity: Identity, request: TransferRequest
) -> WalletOperation:
    # Written leased to this request, which drives it at once: no transaction of its own
    # to take the lease.
    lease = operations.Lease.new(state)
    async with transaction(state.pool) as conn:
        source, target = await access.transfer_wallets(
            conn, identity, request.from_wallet_id, request.to_wallet_id
        )
        if source.status == "frozen":
            raise WalletFrozenError(source.id, "from_wallet_id")
        if source.currency != target.currency:
            raise CurrencyMismatchError(source.currency, target.currency, "to_wallet_id")
        row = await operations.start(
            conn,
            identity,
            type="transfer",
            wallet=source,
            to_wallet=target,
            amount=request.amount,
            description=request.description,
            history=[
                (source.id, "transfer_out", target.id),
                (target.id, "transfer_in", source.id),
            ],
            lease=lease,
        )
    try:
        row = await drive(state, row.id, wallets=(source, target), taken=(row, lease))
    except Unavailable as exc:
        row = await operations.still_pending(state.pool, row.id, exc)
    operation = WalletOperation.from_row(row)
    if row.failure_code == "insufficient_funds":
        raise InsufficientFundsError(row.wallet_id, operation.model_dump())
    return operation


async def drive(
    state: WalletState,
    operation_id: str,
    *,
    wallets: tuple[WalletRow, WalletRow] | None = None,
    taken: tuple[OperationRow, operations.Lease] | None = None,
) -> OperationRow:
    """Post the transfer (again: the reference makes a repeat harmless) and record it.
    `wallets` are its (source, target) rows when the caller has them already; `taken`, the
    row `start` wrote and the lease it was written with (`operations.driving`)."""
    async with operations.driving(state, operation_id, taken=taken) as driver:
        row = driver.row
        if not driver.leased:
            return row
        if wallets is None:
            assert row.to_wallet_id is not None, "a transfer has a receiving wallet"
            async with transaction(state.pool) as conn:
                wallets = (
                    await operations.wallet_of(conn, row, row.wallet_id),
                    await operations.wallet_of(conn, row, row.to_wallet_id),
                )
        source, target = wallets
        try:
            posted = await state.ledger.post(
                operations.scope_of(row),
                Posting(
                    reference_id=row.id,
                    description=row.description or f"Wallet transfer {row.id}",
                    metadata={"wallet_operation": row.id, "type": "transfer"},
                    debit=wallet_code(source.id),
                    credit=wallet_code(target.id),
                    amount=row.amount,
                    currency=row.currency,
                ),
            )
        except Refused as refused:
            failure = (refused.reason_code, refused.reason)
            return await driver.apply(
                lambda conn, row: operations.finish(conn, row, "failed", failure=failure)
            )
        balances = {
            wallet.id: balance
            for wallet in (source, target)
            if (balance := operations.balance_after(posted, wallet.ledger_account_id)) is not None
        }
        return await driver.apply(
            lambda conn, row: operations.finish(
                conn,
                row,
                "succeeded",
                event="wallet.transfer.completed",
                balances=balances,
                ledger_transaction_id=posted["id"],
            )
        )
