"""Who sees and moves which wallets (the wallet rows of `shared/access.py`).

- USER (a signed-in user): only wallets it owns; another user's wallet is "no such wallet".
  It may send to any wallet of its tenant (that is what a transfer is for).
- TENANT_ADMIN and the tenant's API keys: every wallet of the tenant.
- PLATFORM_ADMIN: reads every tenant's wallets; moves and manages nothing for a tenant.
- Everyone: only the mode (test or live) of its credential; another tenant's wallet is 404.
"""

from __future__ import annotations

from services.wallet.errors import NotManagerError, ReadOnlyError, WalletNotFoundError
from services.wallet.repository import wallets as wallets_repo
from services.wallet.repository.wallets import WalletRow
from shared.access import Operation, allows, tenant_reach
from shared.db import Connection
from shared.identity import Identity


def is_plain_user(identity: Identity) -> bool:
    """A caller who sees only the wallets it owns."""
    return not allows(identity, Operation.SEE_TENANT_WALLETS)


def owner_scope(identity: Identity) -> str | None:
    """The one owner whose wallets this caller may touch; None for tenant-wide callers."""
    return identity.principal if is_plain_user(identity) else None


def tenant_scope(identity: Identity) -> str | None:
    """The tenant this caller reads; None (every tenant) for platform admins."""
    return tenant_reach(identity)


def require_actor(identity: Identity) -> None:
    """Money moves only for the tenant's own people and keys."""
    if not allows(identity, Operation.MOVE_MONEY):
        raise ReadOnlyError()


def require_manager(identity: Identity, action: str) -> None:
    require_actor(identity)
    if not allows(identity, Operation.MANAGE_WALLETS):
        raise NotManagerError(action)


async def readable_wallet(
    conn: Connection, identity: Identity, wallet_id: str, *, param: str = "id"
) -> WalletRow:
    row = await wallets_repo.get_wallet(
        conn,
        wallet_id=wallet_id,
        livemode=identity.livemode,
        tenant_id=tenant_scope(identity),
        owner=owner_scope(identity),
    )
    if row is None:
        raise WalletNotFoundError(wallet_id, param)
    return row


async def own_wallet(
    conn: Connection, identity: Identity, wallet_id: str, *, param: str
) -> WalletRow:
    """A wallet the caller may take money from or put money in."""
    require_actor(identity)
    row = await wallets_repo.get_wallet(
        conn,
        wallet_id=wallet_id,
        livemode=identity.livemode,
        tenant_id=identity.tenant_scope,
        owner=owner_scope(identity),
    )
    if row is None:
        raise WalletNotFoundError(wallet_id, param)
    return row


async def tenant_wallet(
    conn: Connection, identity: Identity, wallet_id: str, *, param: str
) -> WalletRow:
    """Any wallet of the caller's tenant and mode: where a transfer may send money."""
    row = await wallets_repo.get_wallet(
        conn, wallet_id=wallet_id, livemode=identity.livemode, tenant_id=identity.tenant_scope
    )
    if row is None:
        raise WalletNotFoundError(wallet_id, param)
    return row


async def transfer_wallets(
    conn: Connection, identity: Identity, from_wallet_id: str, to_wallet_id: str
) -> tuple[WalletRow, WalletRow]:
    """A transfer's (source, target) in one read: the source as `own_wallet` finds it, the
    target as `tenant_wallet` does (the source's refusal first)."""
    require_actor(identity)
    found = await wallets_repo.get_wallets(
        conn, wallet_ids=[from_wallet_id, to_wallet_id], livemode=identity.livemode,
        tenant_id=identity.tenant_scope,
    )  # fmt: skip
    source, target = found.get(from_wallet_id), found.get(to_wallet_id)
    owner = owner_scope(identity)
    if source is None or (owner is not None and source.owner != owner):
        raise WalletNotFoundError(from_wallet_id, "from_wallet_id")
    if target is None:
        raise WalletNotFoundError(to_wallet_id, "to_wallet_id")
    return source, target
