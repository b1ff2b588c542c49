"""Wallets: made with their ledger account, listed, frozen; balances read from the ledger."""

from __future__ import annotations

from typing import Any

from services.wallet.errors import NotManagerError
from services.wallet.repository import wallets as wallets_repo
from services.wallet.schemas import CreateWalletRequest, Wallet, WalletBalance, WalletFilters
from services.wallet.service import access
from services.wallet.state import WalletState
from shared import outbox
from shared.db import Pool, transaction
from shared.identity import Identity
from shared.ids import new_id
from shared.internal_client import Scope
from shared.ledger_contract import wallet_code
from shared.pagination import page


async def create_wallet(
    state: WalletState, identity: Identity, request: CreateWalletRequest
) -> Wallet:
    access.require_actor(identity)
    owner = request.owner
    if access.is_plain_user(identity):
        if owner not in (None, identity.principal):
            raise NotManagerError("open wallets for someone else")
        owner = identity.principal
    if owner is None:
        # A key or an admin that names no owner opens the tenant's own wallet (fees, float):
        # `owner` is optional in the document for every caller, so it is in behaviour too.
        owner = identity.tenant_scope
    wallet_id = new_id("wal")
    # The ledger account first: a wallet row never exists without its account. A crash
    # between the two leaves an unused account, never a wallet that cannot hold money.
    account = await state.ledger.open_wallet_account(
        Scope(identity.tenant_scope, identity.livemode),
        wallet_id=wallet_id,
        currency=request.currency,
        owner=owner,
    )
    async with transaction(state.pool) as conn:
        row = await wallets_repo.insert_wallet(
            conn,
            id=wallet_id,
            tenant_id=identity.tenant_scope,
            livemode=identity.livemode,
            owner=owner,
            currency=request.currency,
            ledger_account_id=account["id"],
            metadata=request.metadata,
        )
        wallet = Wallet.from_row(row)
        await outbox.emit(conn, identity, type="wallet.created", data=wallet)
    return wallet


async def list_wallets(
    pool: Pool, identity: Identity, *, filters: WalletFilters
) -> tuple[list[Wallet], bool]:
    tenant = access.tenant_scope(identity)
    if tenant is None and filters.tenant_id:
        tenant = filters.tenant_id
    conditions: list[tuple[str, Any]] = []
    if (owner := access.owner_scope(identity) or filters.owner) is not None:
        if access.is_plain_user(identity) and filters.owner not in (None, owner):
            return [], False  # a user asking for someone else's wallets sees none
        conditions.append(("owner", owner))
    if filters.currency:
        conditions.append(("currency", filters.currency.lower()))
    if filters.status:
        conditions.append(("status", filters.status))
    async with transaction(pool) as conn:
        found = await wallets_repo.list_wallets(
            conn, livemode=identity.livemode, tenant_id=tenant, params=filters, filters=conditions
        )
    shown, has_more = page(found, filters)
    return [Wallet.from_row(row) for row in shown], has_more


async def get_wallet(pool: Pool, identity: Identity, wallet_id: str) -> Wallet:
    async with transaction(pool) as conn:
        row = await access.readable_wallet(conn, identity, wallet_id)
    return Wallet.from_row(row)


async def set_frozen(pool: Pool, identity: Identity, wallet_id: str, *, frozen: bool) -> Wallet:
    access.require_manager(identity, "freeze or unfreeze wallets")
    async with transaction(pool) as conn:
        row = await access.readable_wallet(conn, identity, wallet_id)
        status = "frozen" if frozen else "active"
        if row.status != status:
            row = await wallets_repo.set_status(conn, wallet_id=wallet_id, status=status)
            await outbox.emit(
                conn, identity, type="wallet.frozen" if frozen else "wallet.unfrozen",
                data=Wallet.from_row(row),
            )  # fmt: skip
    return Wallet.from_row(row)


async def balance(state: WalletState, identity: Identity, wallet_id: str) -> WalletBalance:
    async with transaction(state.pool) as conn:
        row = await access.readable_wallet(conn, identity, wallet_id)
    account = await state.ledger.account(Scope(row.tenant_id, row.livemode), wallet_code(wallet_id))
    found = account["balance"]
    return WalletBalance(
        wallet_id=wallet_id,
        currency=row.currency,
        available=found["available"],
        pending=found["pending_debits"],
        posted=found["posted"],
        livemode=row.livemode,
    )
