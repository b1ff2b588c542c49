"""Wallet errors; all are subclasses of the shared tree in `shared.errors`."""

from __future__ import annotations

from shared.errors import NotFoundError


class WalletNotFoundError(NotFoundError):
    def __init__(self, wallet_id: str) -> None:
        super().__init__(f"No such wallet: {wallet_id!r}.", param="id")
