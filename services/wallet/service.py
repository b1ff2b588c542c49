"""Wallet rules. No SQL here (see repository.py) and no HTTP types."""

from __future__ import annotations

from services.wallet import repository
from services.wallet.errors import WalletNotFoundError
from services.wallet.schemas import Wallet
from shared.db import Connection
from shared.identity import Identity
from shared.pagination import ListParams, page


async def list_wallets(
    conn: Connection, identity: Identity, *, params: ListParams
) -> tuple[list[Wallet], bool]:
    rows = await repository.list_wallets(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, params=params
    )
    shown, has_more = page(rows, params)
    return [Wallet.from_row(row) for row in shown], has_more


async def get_wallet(conn: Connection, identity: Identity, wallet_id: str) -> Wallet:
    row = await repository.get_wallet(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, wallet_id=wallet_id
    )
    if row is None:
        raise WalletNotFoundError(wallet_id)
    return Wallet.from_row(row)
